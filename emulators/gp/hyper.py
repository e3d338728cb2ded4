"""Hyperparameters of one exact GP per output: negative log marginal likelihood, its
closed-form gradient, and an L-BFGS-B fit per output with honest stopping.

Every output gets its own optimisation (its own line searches and stopping test), so a
hard output neither stops an easy one early nor is stopped by it.  The arithmetic is
float64 numpy/LAPACK: one Cholesky, one inverse and two ``(n, n) × (n, d)`` products per
evaluation.

Parameters of output ``j``, on unit-cube inputs and standardised outputs:
``θ = (log ℓ_1..d, log σ_f², log σ_n², c)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

from emulators.gp.model import LENGTHSCALE_RANGE, OUTPUTSCALE_RANGE

#: Upper bound of the noise variance (standardised outputs).
NOISE_MAX = 10.0
_LOG2PI = math.log(2.0 * math.pi)


@dataclass
class Hyper:
    """Hyperparameters of one output: ``lengthscale (d,)``, ``outputscale``, ``noise``,
    ``mean`` (standardised units)."""

    lengthscale: np.ndarray
    outputscale: float
    noise: float
    mean: float

    def to_theta(self) -> np.ndarray:
        return np.concatenate([np.log(self.lengthscale),
                               [math.log(self.outputscale), math.log(self.noise), self.mean]])

    @classmethod
    def from_theta(cls, theta: np.ndarray) -> Hyper:
        d = len(theta) - 3
        return cls(np.exp(theta[:d]), float(np.exp(theta[d])), float(np.exp(theta[d + 1])),
                   float(theta[d + 2]))


@dataclass
class OutputFit:
    """How the hyperparameters of one latent output were found.

    ``status``: ``"converged"`` (L-BFGS-B's gradient or relative-change test passed),
    ``"max_iter"`` (iteration or evaluation budget spent first), ``"stalled"`` (the line
    search could make no progress: usually the optimum at rounding level, but not proven)
    or ``"failed"`` (no finite likelihood from any start).  ``starts`` lists every
    start's ``(status, iterations, loss)``; restarts that could not catch up with the best
    are ``"abandoned"``.  ``loss`` is the negative log marginal likelihood per point on
    the data the hyperparameters were estimated on (``n_fit`` points).
    """

    status: str
    iterations: int
    loss: float
    n_fit: int
    starts: list[tuple[str, int, float]] = field(default_factory=list)
    message: str = ""

    @property
    def success(self) -> bool:
        return self.status == "converged"

    def as_dict(self) -> dict:
        return {"status": self.status, "iterations": self.iterations,
                "loss": round(self.loss, 6), "n_fit": self.n_fit,
                "starts": [list(s) for s in self.starts]}


# -- kernel profile ---------------------------------------------------------------------
def _profile(kind: str, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation ``k(r)`` and ``G = -2 dk/d(r²)`` (R&W 2006 eq. 4.9, 4.17)."""
    if kind == "rbf":
        k = np.exp(-0.5 * r2)
        return k, k
    r = np.sqrt(r2)
    if kind == "matern52":
        e = np.exp(-math.sqrt(5.0) * r)
        return (1.0 + math.sqrt(5.0) * r + 5.0 / 3.0 * r2) * e, 5.0 / 3.0 * (1.0 + math.sqrt(5.0)
                                                                            * r) * e
    if kind == "matern32":
        e = np.exp(-math.sqrt(3.0) * r)
        return (1.0 + math.sqrt(3.0) * r) * e, 3.0 * e
    raise ValueError(f"unknown kernel {kind!r}")


def _sqdist(A: np.ndarray) -> np.ndarray:
    s = np.einsum("nd,nd->n", A, A)
    r2 = s[:, None] + s[None, :] - 2.0 * (A @ A.T)
    np.fill_diagonal(r2, 0.0)
    return np.maximum(r2, 0.0, out=r2)


def nll_and_grad(theta: np.ndarray, U: np.ndarray, y: np.ndarray, kind: str
                 ) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood of one output and its gradient in ``θ``.

    ``-log p(y) = ½ (y−c)ᵀK⁻¹(y−c) + ½ log|K| + n/2 log 2π`` (R&W 2006 eq. 2.30) with
    ``K = σ_f² k(r) + σ_n² I``; ``∂/∂θ = -½ tr((ααᵀ − K⁻¹) ∂K/∂θ)`` (eq. 5.9).
    ``U (n, d)`` unit-cube inputs, ``y (n,)`` standardised outputs.
    """
    n, d = U.shape
    ls, sf2, sn2, c = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1]), theta[d + 2]
    A = U / ls
    k, G = _profile(kind, _sqdist(A))
    K = sf2 * k
    K[np.diag_indices(n)] += sn2
    try:
        L = linalg.cholesky(K, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    resid = y - c
    alpha = linalg.cho_solve((L, True), resid, check_finite=False)
    loss = 0.5 * resid @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * _LOG2PI
    Kinv, info = linalg.lapack.dpotri(L, lower=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
    W = np.outer(alpha, alpha) - Kinv
    grad = np.empty_like(theta)
    # ∂K/∂log ℓ_k = σ_f² G ∘ (a_ik − a_jk)²;
    # Σ_ij M_ij (a_ik − a_jk)² = 2 Σ_i a_ik² s_i − 2 a_kᵀ M a_k
    M = W * G
    M *= sf2
    s = M.sum(axis=1)
    grad[:d] = -0.5 * (2.0 * (A * A).T @ s - 2.0 * np.einsum("nd,nd->d", A, M @ A))
    grad[d] = -0.5 * sf2 * np.einsum("ij,ij->", W, k)
    grad[d + 1] = -0.5 * sn2 * np.trace(W)
    grad[d + 2] = -alpha.sum()
    return float(loss), grad


def bounds(d: int, noise_floor: float) -> list[tuple[float, float]]:
    lo, hi = LENGTHSCALE_RANGE
    return ([(math.log(lo), math.log(hi))] * d
            + [tuple(math.log(v) for v in OUTPUTSCALE_RANGE),
               (math.log(noise_floor), math.log(NOISE_MAX)), (-10.0, 10.0)])


def default_start(d: int, y: np.ndarray, noise_floor: float) -> Hyper:
    """Lengthscale 0.5 on every input, signal variance of ``y``, noise 1e-3 of it."""
    var = max(float(np.var(y)), 1e-3)
    return Hyper(np.full(d, 0.5), var, max(1e-3 * var, noise_floor * 10), float(np.mean(y)))


def smooth_start(d: int, y: np.ndarray, noise_floor: float) -> Hyper:
    """Lengthscale 5 on every input and ten times the signal variance: the nearly
    polynomial basin of smooth simulators, which starts at 0.5 may not reach."""
    h = default_start(d, y, noise_floor)
    h.lengthscale = np.full(d, 5.0)
    h.outputscale *= 10.0
    return h


def neighbour_spacing(U: np.ndarray) -> float:
    """Median distance (max-norm) from each unit-cube point of ``U (n, d)`` to its nearest
    neighbour, clipped to the lengthscale bounds: the shortest scale the design resolves."""
    from scipy.spatial import cKDTree

    if len(U) < 2:
        return 0.5
    return float(np.clip(np.median(cKDTree(U).query(U, k=2, p=np.inf)[0][:, 1]),
                         *LENGTHSCALE_RANGE))


def spacing_start(d: int, y: np.ndarray, noise_floor: float, spacing: float) -> Hyper:
    """Lengthscale ``spacing`` (:func:`neighbour_spacing`) on every input: random starts in
    [0.05, 2] can all miss a short period (sin 8πx on 50 points, RBF: a constant fit from
    3 starts on 5 designs of 10)."""
    h = default_start(d, y, noise_floor)
    h.lengthscale = np.full(d, spacing)
    return h


def random_start(d: int, y: np.ndarray, noise_floor: float, rng: np.random.Generator) -> Hyper:
    """Lengthscales log-uniform in [0.05, 2] per input."""
    h = default_start(d, y, noise_floor)
    h.lengthscale = np.exp(rng.uniform(math.log(0.05), math.log(2.0), d))
    return h


class _Abandon:
    """L-BFGS-B callback: stop a restart that is still far behind the best after
    ``patience`` iterations (it would need an unusually long descent to win)."""

    def __init__(self, best: float, patience: int, margin: float):
        self.best, self.patience, self.margin = best, patience, margin
        self.iterations, self.abandoned = 0, False

    def __call__(self, intermediate_result: optimize.OptimizeResult) -> None:
        self.iterations += 1
        if (self.iterations >= self.patience
                and intermediate_result.fun > self.best + self.margin):
            self.abandoned = True
            raise StopIteration


def _multistart(fun, args: tuple, thetas: list[np.ndarray], bnds: list[tuple[float, float]],
                *, max_iter: int, ftol: float, patience: int, margin: float, full_starts: int,
                per: float) -> tuple[np.ndarray | None, float, str, int,
                                     list[tuple[str, int, float]], str]:
    """L-BFGS-B from each start in turn, keeping the best: the shared loop of
    :func:`fit_output` and :func:`fit_shared`.  Starts after the first ``full_starts`` are
    abandoned when still ``margin`` nats behind the best after ``patience`` iterations.

    Returns ``(θ, loss, status, iterations, record, message)`` of the best start (``θ``
    ``None`` when no start gave a finite loss); ``record`` has every start's ``(status,
    iterations, loss / per)``.
    """
    lo = np.array([b[0] for b in bnds])
    hi = np.array([b[1] for b in bnds])
    best_theta, best_loss, best_status, best_iter, msg = None, math.inf, "failed", 0, ""
    record: list[tuple[str, int, float]] = []
    for i, theta0 in enumerate(thetas):
        cb = (_Abandon(best_loss, patience, margin)
              if i >= full_starts and math.isfinite(best_loss) else None)
        res = optimize.minimize(fun, np.clip(theta0, lo + 1e-9, hi - 1e-9), args=args,
                                jac=True, method="L-BFGS-B", bounds=bnds, callback=cb,
                                options={"maxiter": max_iter, "maxfun": 2 * max_iter + 20,
                                         "ftol": ftol})
        if cb is not None and cb.abandoned:
            status = "abandoned"
        elif res.status == 0:
            status = "converged"
        elif res.status == 1:
            status = "max_iter"
        else:
            status = "stalled"
        loss = float(res.fun)
        record.append((status, int(res.nit), round(loss / per, 6)))
        if loss < 1e24 and loss < best_loss:
            best_theta, best_loss, best_status, best_iter = res.x, loss, status, int(res.nit)
            msg = str(res.message)
    return best_theta, best_loss, best_status, best_iter, record, msg


def fit_output(U: np.ndarray, y: np.ndarray, kind: str, starts: list[Hyper], *,
               noise_floor: float, max_iter: int = 200, ftol: float = 1e-9,
               patience: int = 15, margin: float | None = None,
               full_starts: int = 1) -> tuple[Hyper, OutputFit]:
    """Fit one output from each start in turn (L-BFGS-B with bounds); keep the best.

    The first ``full_starts`` starts run to L-BFGS-B's own stopping test or ``max_iter``.
    Later starts are abandoned after ``patience`` iterations if still worse than the best
    by more than ``margin`` (default ``max(1, 0.01 n)`` nats).  The result's status is that of the
    winning start; a start ended by its budget is never reported as converged.
    """
    n, d = U.shape
    margin = max(1.0, 0.01 * n) if margin is None else margin
    best_theta, best_loss, best_status, best_iter, record, msg = _multistart(
        nll_and_grad, (U, y, kind), [h.to_theta() for h in starts], bounds(d, noise_floor),
        max_iter=max_iter, ftol=ftol, patience=patience, margin=margin,
        full_starts=full_starts, per=n)
    if best_theta is None:
        return starts[0], OutputFit("failed", 0, math.nan, n, record,
                                    "no start gave a positive-definite kernel matrix")
    return Hyper.from_theta(best_theta), OutputFit(best_status, best_iter, best_loss / n, n,
                                                   record, msg)


def maximin_subset(U: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a space-filling subset of ``U`` (greedy farthest-point selection from a
    random first point): the hyperparameters seen on it resemble those of the full design."""
    n = len(U)
    if size >= n:
        return np.arange(n)
    idx = np.empty(size, dtype=int)
    idx[0] = rng.integers(n)
    dist = np.sum((U - U[idx[0]]) ** 2, axis=1)
    for i in range(1, size):
        idx[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.sum((U - U[idx[i]]) ** 2, axis=1))
    return np.sort(idx)


# -- outputs sharing one kernel ---------------------------------------------------------
def nll_and_grad_shared(theta: np.ndarray, U: np.ndarray, Y: np.ndarray, kind: str
                        ) -> tuple[float, np.ndarray]:
    """Profiled negative log marginal likelihood of ``m`` outputs sharing one correlation.

    Output ``j`` has ``K_j = σ_j² C``, ``C = k(r; ℓ) + λ I`` (shared lengthscales ``ℓ`` and
    noise-to-signal ratio ``λ``); its mean ``c_j`` (generalised least squares) and signal
    variance ``σ_j² = r_jᵀC⁻¹r_j / n`` are profiled out in closed form, so one Cholesky of
    ``C`` serves every output:
    ``-log p = Σ_j [n/2 log σ_j² + ½ log|C| + n/2 (1 + log 2π)]``.  By the envelope theorem
    the gradient is the partial one, ``-½ tr(W ∂C/∂θ)`` with
    ``W = Σ_j (n / r_jᵀα_j) α_j α_jᵀ − m C⁻¹`` (cf. R&W 2006 eq. 5.9).
    ``θ = (log ℓ_1..d, log λ)``; ``U (n, d)`` unit-cube inputs, ``Y (n, m)`` outputs.
    """
    n, d = U.shape
    m = Y.shape[1]
    ls, lam = np.exp(theta[:d]), math.exp(theta[d])
    A = U / ls
    k, G = _profile(kind, _sqdist(A))
    C = k.copy()
    C[np.diag_indices(n)] += lam
    try:
        L = linalg.cholesky(C, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    Kinv, info = linalg.lapack.dpotri(L, lower=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
    c = _gls_mean(Kinv, Y)
    R = Y - c
    alpha = Kinv @ R  # (n, m)
    q = np.maximum(np.einsum("nm,nm->m", R, alpha), 1e-300)
    logdet = 2.0 * np.log(np.diag(L)).sum()
    loss = 0.5 * n * np.log(q / n).sum() + 0.5 * m * logdet + 0.5 * m * n * (1.0 + _LOG2PI)
    B = alpha * np.sqrt(n / q)
    W = B @ B.T - m * Kinv
    grad = np.empty_like(theta)
    M = W * G
    s = M.sum(axis=1)
    grad[:d] = -0.5 * (2.0 * (A * A).T @ s - 2.0 * np.einsum("nd,nd->d", A, M @ A))
    grad[d] = -0.5 * lam * np.trace(W)
    return float(loss), grad


def _gls_mean(Kinv: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Generalised-least-squares constant mean of each column: ``1ᵀC⁻¹y / 1ᵀC⁻¹1``."""
    w = Kinv.sum(axis=0)
    return (w @ Y) / max(float(w.sum()), 1e-300)


def shared_hypers(theta: np.ndarray, U: np.ndarray, Y: np.ndarray, kind: str
                  ) -> tuple[list[Hyper], np.ndarray]:
    """Per-output hyperparameters at shared ``θ``: the profiled ``σ_j²``, ``σ_j² λ`` and
    ``c_j``; and each output's negative log marginal likelihood per point ``(m,)``."""
    n, d = U.shape
    ls, lam = np.exp(theta[:d]), math.exp(theta[d])
    k, _ = _profile(kind, _sqdist(U / ls))
    k[np.diag_indices(n)] += lam
    L = linalg.cholesky(k, lower=True, check_finite=False)
    Kinv = linalg.cho_solve((L, True), np.eye(n), check_finite=False)
    c = _gls_mean(Kinv, Y)
    R = Y - c
    q = np.einsum("nm,nm->m", R, Kinv @ R)
    lo, hi = OUTPUTSCALE_RANGE
    sf2 = np.clip(q / n, lo, hi)
    logdet = 2.0 * np.log(np.diag(L)).sum()
    nll = (0.5 * q / sf2 + 0.5 * n * np.log(sf2) + 0.5 * logdet + 0.5 * n * _LOG2PI) / n
    return ([Hyper(ls.copy(), float(s), float(s * lam), float(cj))
             for s, cj in zip(sf2, c, strict=True)], nll)


def fit_shared(U: np.ndarray, Y: np.ndarray, kind: str, starts: list[np.ndarray], *,
               noise_floor: float, max_iter: int = 200, ftol: float = 1e-9,
               patience: int = 15, margin: float | None = None, full_starts: int = 1
               ) -> tuple[np.ndarray, OutputFit]:
    """Fit the shared ``θ = (log ℓ, log λ)`` of all columns of ``Y (n, m)`` from each start
    (L-BFGS-B, bounds; ``λ ≥ noise_floor``), keeping the best; restarts are abandoned as in
    :func:`fit_output`.  Returns ``θ`` and the fit's report (loss per point and output)."""
    n, d = U.shape
    m = Y.shape[1]
    margin = max(1.0, 0.01 * n * m) if margin is None else margin
    lo_l, hi_l = LENGTHSCALE_RANGE
    bnds = [(math.log(lo_l), math.log(hi_l))] * d + [(math.log(noise_floor),
                                                      math.log(NOISE_MAX))]
    best_theta, best_loss, best_status, best_iter, record, msg = _multistart(
        nll_and_grad_shared, (U, Y, kind), starts, bnds, max_iter=max_iter, ftol=ftol,
        patience=patience, margin=margin, full_starts=full_starts, per=n * m)
    if best_theta is None:
        return starts[0], OutputFit("failed", 0, math.nan, n, record,
                                    "no start gave a positive-definite kernel matrix")
    return best_theta, OutputFit(best_status, best_iter, best_loss / (n * m), n, record, msg)


def shared_starts(d: int, restarts: int, noise_floor: float, rng: np.random.Generator
                  ) -> list[np.ndarray]:
    """Starts of a shared fit, as :func:`default_start`, :func:`smooth_start` and
    :func:`random_start`: lengthscale 0.5, then 5, then random; ``λ`` = 1e-3."""
    lam = math.log(max(1e-3, 10 * noise_floor))
    out = [np.append(np.full(d, math.log(0.5)), lam)]
    if restarts > 1:
        out.append(np.append(np.full(d, math.log(5.0)), lam - math.log(10.0)))
    out += [np.append(rng.uniform(math.log(0.05), math.log(2.0), d), lam)
            for _ in range(restarts - 2)]
    return out
