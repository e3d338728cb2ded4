"""From fitted hyperparameters to the arrays the runtime predicts with.

For each latent output: the Cholesky factor's inverse and ``α`` (R&W 2006 Algorithm 2.1),
a leave-one-out variance calibration (closed form, R&W eq. 5.12; the scale that makes
95% of the LOO residuals fall inside their 95% intervals), a low-rank variance
factor of chosen accuracy, and the distance threshold of the novelty flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from emulators.gp.hyper import Hyper
from emulators.runtime.gp import kernel_matrix

#: Random probe points on which the low-rank variance is checked against the exact one.
N_PROBES = 1024
#: A low-rank factor is kept only when its rank is at most this fraction of n (the rank-r
#: product then costs at most this fraction of the exact variance's n² product).
LOWRANK_MAX_FRACTION = 0.75
#: The rank is chosen so the excess stays below this fraction of ``tol`` on the probes: a
#: margin for points not probed (borehole, n = 1,000, tol 0.05: the excess on 2,000 fresh
#: points then peaks at 0.030-0.037; benchmarks/gp_lowrank_variance.py).
LOWRANK_MARGIN = 0.8
#: No low-rank search above this many runs: the eigendecomposition it needs costs more
#: than the rest of the fit (≈ 30 s CPU at n = 3,000).
LOWRANK_MAX_RUNS = 2000
#: Calibration scales are kept in this range (a wilder value means a broken fit).
SCALE_RANGE = (1e-3, 1e3)
#: Interval level the calibration targets, and its standard-normal quantile.
LEVEL = 0.95
Z95 = 1.959964
#: Calibration may narrow intervals only with at least max(this, 5 d) runs: with fewer,
#: the leave-one-out residuals (hyperparameters fitted to the same runs) are optimistic —
#: 16 runs of the 5-input Windkessel put 8 held-out points outside intervals LOO called
#: too wide.  Widening is always allowed.
MIN_RUNS_TO_SHRINK = 30


def exact_arrays(U: np.ndarray, Z: np.ndarray, hypers: list[Hyper], kernel: str, *,
                 calibrate: str | None = "loo", lowrank_tol: float | None = 0.05,
                 novelty_factor: float = 2.0, rng: np.random.Generator,
                 prefix: str = "gp.") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Posterior arrays ``{prefix + name: array}`` and the card entries describing them.

    ``U (n, d)`` unit-cube training inputs, ``Z (n, m)`` standardised outputs.
    """
    n, d = U.shape
    m = Z.shape[1]
    ls = np.stack([h.lengthscale for h in hypers])
    os_ = np.array([h.outputscale for h in hypers])
    noise = np.array([h.noise for h in hypers])
    const = np.array([h.mean for h in hypers])
    L_inv = np.empty((m, n, n))
    alpha = np.empty((m, n))
    scale = np.ones(m)
    loo_before, loo_after, ranks, errors, factors, thresholds = [], [], [], [], [], []
    probes = rng.random((N_PROBES, d))
    eye = np.eye(n)
    min_runs = max(MIN_RUNS_TO_SHRINK, 5 * d)
    shared = None  # outputs sharing a correlation (share_kernel): factors scale by σ_j
    for j in range(m):
        same = (shared is not None and np.array_equal(ls[j], shared["ls"])
                and noise[j] / os_[j] == shared["ratio"])
        if same:  # K_j = σ_j² C: L_j⁻¹ = C's L⁻¹ / σ_j
            L_inv[j] = shared["L_inv"] / np.sqrt(os_[j])
            alpha[j] = L_inv[j].T @ (L_inv[j] @ (Z[:, j] - const[j]))
        else:
            Kf = kernel_matrix(kernel, U, U, ls[j:j + 1], os_[j:j + 1])[0]
            K = Kf + noise[j] * eye
            L = linalg.cholesky(K, lower=True, check_finite=False)
            L_inv[j] = linalg.solve_triangular(L, eye, lower=True, check_finite=False)
            alpha[j] = linalg.cho_solve((L, True), Z[:, j] - const[j], check_finite=False)
            shared = {"ls": ls[j], "ratio": noise[j] / os_[j],
                      "L_inv": L_inv[j] * np.sqrt(os_[j])}
        # leave-one-out: residual α_i/[K⁻¹]_ii, variance 1/[K⁻¹]_ii (R&W eq. 5.12)
        kinv_diag = np.einsum("ki,ki->i", L_inv[j], L_inv[j])
        z2 = alpha[j] ** 2 / kinv_diag
        loo_before.append(float(np.mean(z2 < Z95**2)))
        if calibrate == "loo":
            # the scale that puts 95% of the standardised LOO residuals inside ±1.96σ:
            # it targets the coverage itself (the mean of z² is swayed by a few large
            # residuals of a deterministic simulator); with few runs the 95% quantile is
            # near the largest residual, so small designs stay cautious
            # the ⌈(n+1)·0.95⌉-th smallest z² (split-conformal quantile, Lei et al. 2018):
            # coverage ≥ 95% for exchangeable runs, not just on average
            k = min(n, int(np.ceil((n + 1) * LEVEL)))
            s2 = np.sort(z2)[k - 1] / Z95**2
            if s2 < 1.0 and n < min_runs:
                s2 = 1.0  # too few runs to narrow the intervals (LOO is optimistic there)
            scale[j] = float(np.clip(s2, *SCALE_RANGE))
        loo_after.append(float(np.mean(z2 < scale[j] * Z95**2)))
        if lowrank_tol is not None and n <= LOWRANK_MAX_RUNS:
            if same and "P" in shared:  # relative errors do not depend on σ_j²
                P, ok, err = shared["P"] / np.sqrt(os_[j]), shared["ok"], shared["err"]
            else:
                (P, ok), err = _lowrank_factor(Kf, noise[j], L_inv[j], kernel, U, probes,
                                               ls[j:j + 1], os_[j:j + 1], lowrank_tol)
                shared.update(P=P * np.sqrt(os_[j]), ok=ok, err=err)
            factors.append(P if ok else None)
            ranks.append(len(P))
            errors.append(err)
        if not same or "threshold" not in shared:
            A = U / ls[j]
            r2 = _sq(A)
            np.fill_diagonal(r2, np.inf)
            nn = np.sqrt(r2.min(axis=1))
            shared["threshold"] = float(novelty_factor * np.quantile(nn, 0.95))
        thresholds.append(shared["threshold"])
    arrays = {"train_u": U, "lengthscale": ls, "outputscale": os_, "noise": noise,
              "mean": const, "alpha": alpha, "L_inv": L_inv, "var_scale": scale}
    card: dict[str, Any] = {
        "calibration": {
            "method": calibrate or "none",
            "may_narrow": bool(calibrate) and n >= min_runs,
            "target": ("95% of leave-one-out standardised residuals inside the 95% "
                       "interval" if calibrate else None),
            "variance_scale": scale.tolist(),
            "loo_coverage95_before": loo_before,
            "loo_coverage95_after": loo_after,
        },
        "novelty": {
            "metric": "distance to the nearest training run in lengthscale units",
            "factor": novelty_factor,
            "threshold": thresholds,
        },
    }
    error_measure = (f"max over {N_PROBES} random unit-cube points of (lowrank variance - "
                     f"exact variance) / exact variance; never below the exact variance")
    if lowrank_tol is not None and factors and all(P is not None for P in factors):
        r = max(ranks)
        R = np.zeros((m, r, n))
        for j, P in enumerate(factors):
            R[j, :len(P)] = P
        arrays["lowrank"] = R
        card["lowrank"] = {
            "rank": ranks, "tol": lowrank_tol, "probe_max_error": errors,
            "error_measure": error_measure,
        }
    elif lowrank_tol is not None and factors:
        # A deterministic simulator under a Matérn kernel has a posterior variance near the
        # noise floor, and k*ᵀK⁻¹k* to within tol of it needs nearly every eigendirection
        # (benchmarks/gp_lowrank_variance.py); relative to the prior variance a rank of ~5
        # would do, but that error is 10⁵ times the posterior variance.
        card["lowrank"] = {"rank": None, "tol": lowrank_tol, "rank_needed": ranks,
                           "error_measure": error_measure,
                           "note": f"the rank meeting tol exceeds {LOWRANK_MAX_FRACTION:.0%} "
                                   f"of the {n} runs for some output: exact variance used"}
    elif lowrank_tol is not None:
        card["lowrank"] = {"rank": None, "tol": lowrank_tol,
                           "note": f"not searched above {LOWRANK_MAX_RUNS} runs"}
    return {prefix + k: v for k, v in arrays.items()}, card


def _sq(A: np.ndarray) -> np.ndarray:
    s = np.einsum("nd,nd->n", A, A)
    return np.maximum(s[:, None] + s[None, :] - 2.0 * A @ A.T, 0.0)


def _lowrank_factor(Kf: np.ndarray, noise: float, L_inv: np.ndarray, kernel: str,
                    U: np.ndarray, probes: np.ndarray, ls: np.ndarray, os_: np.ndarray,
                    tol: float) -> tuple[tuple[np.ndarray, bool], float]:
    """``P (r, n)`` with ``k*ᵀ K⁻¹ k* ≈ |P k*|²``: the leading ``r`` eigenvectors of the
    noise-free kernel matrix, ``P = diag((λ_i + σ_n²)^-½) Q_rᵀ``.

    The dropped terms ``(q_iᵀk*)²/(λ_i + σ_n²)`` are non-negative, so the low-rank
    variance never falls below the exact one; ``r`` is the smallest rank whose excess stays
    below ``LOWRANK_MARGIN·tol`` of the exact variance on every probe point (a margin for
    points not probed).  Returns ``((P, kept), error)``: ``kept`` is False when
    that rank exceeds ``LOWRANK_MAX_FRACTION`` of ``n`` (then the exact variance is cheaper
    to store and hardly slower to compute).
    """
    n = len(Kf)
    lam, Q = linalg.eigh(Kf, check_finite=False)
    lam, Q = np.maximum(lam[::-1], 0.0), Q[:, ::-1]
    Ks = kernel_matrix(kernel, U, probes, ls, os_)[0]  # (n, p)
    exact = os_[0] + noise - np.einsum("ij,ij->j", L_inv @ Ks, L_inv @ Ks)
    terms = (Q.T @ Ks) ** 2 / (lam + noise)[:, None]  # (n, p)
    approx = os_[0] + noise - np.cumsum(terms, axis=0)  # row r-1: rank r
    rel = (approx - exact[None, :]) / exact[None, :]
    worst = rel.max(axis=1)
    ok = np.flatnonzero(worst <= LOWRANK_MARGIN * tol)
    r = int(ok[0]) + 1 if len(ok) else n
    P = Q[:, :r].T / np.sqrt(lam[:r] + noise)[:, None]
    return (P, r <= LOWRANK_MAX_FRACTION * n), float(max(worst[r - 1], 0.0))
