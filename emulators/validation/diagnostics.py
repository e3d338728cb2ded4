"""Bastos & O'Hagan (2009) diagnostics of a GP emulator on held-out runs, with verdicts.

- **Standardised errors** ``eᵢ = (yᵢ − μᵢ)/σᵢ`` (§3.1): about 95% within ±2 when the
  variances are right; many large ones mean an over-confident emulator (or a poor mean),
  almost none large and ``mean e²`` ≪ 1 an under-confident one; large errors gathered in one
  part of an input's range mark a misfit region.
- **Mahalanobis distance** ``D² = (y − μ)ᵀ V⁻¹ (y − μ)`` over the ``m`` test runs with the
  joint predictive covariance ``V`` (§3.2, eq. 4–5): with ``n`` training runs and ``q``
  mean coefficients, ``(n − q) / (m (n − q − 2)) · D² ~ F(m, n − q)``, so ``E[D²] = m``.
  Above the reference's 97.5% quantile: over-confident or misfit; below its 2.5%:
  under-confident.
- **Pivoted-Cholesky errors** ``D_PC = G⁻¹ (y − μ)`` with ``V = G Gᵀ`` pivoted by the largest
  remaining conditional variance (§3.3): ``Σ D_PC² = D²``; large errors early in the order
  point at over-confident variances far from the training runs, large errors late at a
  wrong correlation structure (length-scales too long).

Every latent column of a GP (a scalar output, a principal component of a waveform, or one
phase point of an unreduced waveform) is an independent GP, so the joint tests run per
latent column; emulators without a joint covariance (ensembles) get a diagonal ``V`` and
the chi-squared reference, and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

#: P(|N(0, 1)| > 2)
P_LARGE = 2 * stats.norm.sf(2.0)


@dataclass
class Verdict:
    """One finding: ``status`` is ``"ok"``, ``"over-confident"``, ``"under-confident"``,
    ``"biased"``, ``"misfit region"`` or ``"correlation misfit"``; ``text`` says it in words."""

    status: str
    text: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class MahalanobisTest:
    """``D²`` of one latent column against its scaled-F (or chi-squared) reference."""

    label: str
    d2: float
    m: int
    dof: int | None  # n − q of the F reference; None: chi-squared (no joint covariance)
    low: float
    high: float
    joint: bool = True
    pivoted: np.ndarray | None = field(default=None, repr=False)  # D_PC in pivot order

    @property
    def expected(self) -> float:
        return float(self.m)

    @property
    def verdict(self) -> Verdict:
        where = f"D² = {self.d2:.3g} for {self.m} runs (expected {self.m}, 95% reference " \
                f"interval [{self.low:.3g}, {self.high:.3g}])"
        if self.d2 > self.high:
            return Verdict("over-confident", f"{self.label}: {where}: the joint errors are "
                           f"larger than the emulator's covariance allows — it is "
                           f"over-confident, or its mean misses something.")
        if self.d2 < self.low:
            return Verdict("under-confident", f"{self.label}: {where}: the errors are "
                           f"smaller than the emulator claims — its intervals are wider "
                           f"than needed (under-confident).")
        return Verdict("ok", f"{self.label}: {where}: consistent with its uncertainty.")

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "d2": self.d2, "expected": self.expected,
                "interval95": [self.low, self.high], "m": self.m, "dof": self.dof,
                "joint": self.joint, "verdict": self.verdict.status}


@dataclass
class OutputDiagnostics:
    """Diagnostics of one output: standardised errors ``(n,)`` or ``(n, T)``, the
    Mahalanobis tests of its latent columns, and the verdicts in words."""

    name: str
    unit: str
    std_errors: np.ndarray = field(repr=False)
    mahalanobis: list[MahalanobisTest]
    verdicts: list[Verdict]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def headline(self) -> str:
        bad = [v.status for v in self.verdicts if not v.ok]
        return "calibrated" if not bad else ", ".join(dict.fromkeys(bad))

    def to_dict(self) -> dict[str, Any]:
        e = self.std_errors
        return {"headline": self.headline,
                "std_errors": {"mean": float(np.mean(e)), "mean_square": float(np.mean(e**2)),
                               "fraction_above_2": float(np.mean(np.abs(e) > 2))},
                "mahalanobis": [t.to_dict() for t in self.mahalanobis],
                "verdicts": [{"status": v.status, "text": v.text} for v in self.verdicts]}


@dataclass
class Diagnostics:
    """Per-output diagnostics of one emulator on ``n`` held-out runs at inputs ``X``."""

    outputs: dict[str, OutputDiagnostics]
    X: np.ndarray = field(repr=False)
    input_names: list[str]
    n_train: int | None
    input_units: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> OutputDiagnostics:
        return self.outputs[name]

    def to_dict(self) -> dict[str, Any]:
        return {"n_test": len(self.X), "n_train": self.n_train,
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()}}


# -- the pieces --------------------------------------------------------------------------
def mahalanobis_reference(m: int, n: int | None, q: int = 1, coverage: float = 0.95
                          ) -> tuple[float, float]:
    """Central ``coverage`` interval of ``D²`` for ``m`` test runs: the scaled F(m, n − q)
    of Bastos & O'Hagan (2009, eq. 5), or chi-squared(m) when ``n`` is None or too small."""
    a = (1 - coverage) / 2
    if n is None or n - q <= 4:
        return float(stats.chi2.ppf(a, m)), float(stats.chi2.ppf(1 - a, m))
    scale = m * (n - q - 2) / (n - q)  # D² = scale · F
    return (float(scale * stats.f.ppf(a, m, n - q)),
            float(scale * stats.f.ppf(1 - a, m, n - q)))


def mahalanobis(y: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """``(y − μ)ᵀ V⁻¹ (y − μ)`` for one vector of ``m`` runs (eq. 4)."""
    r = np.asarray(y, float) - mean
    L = np.linalg.cholesky(_jitter(cov))
    w = np.linalg.solve(L, r)
    return float(w @ w)


def pivoted_cholesky(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(G, order)`` with ``V[order][:, order] = G Gᵀ``, pivoting on the largest remaining
    conditional variance at each step (Bastos & O'Hagan 2009, §3.3)."""
    A = np.asarray(V, float)
    n = len(A)
    order = np.arange(n)
    G = np.zeros((n, n))
    d = np.diag(A).copy()
    for k in range(n):
        j = k + int(np.argmax(d[order[k:]]))
        order[[k, j]] = order[[j, k]]
        G[[k, j], :k] = G[[j, k], :k]
        p = order[k]
        G[k, k] = np.sqrt(max(d[p], 1e-300))
        rows = order[k + 1:]
        G[k + 1:, k] = (A[rows, p] - G[k + 1:, :k] @ G[k, :k]) / G[k, k]
        d[rows] -= G[k + 1:, k] ** 2
    return G, order


def pivoted_errors(y: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``D_PC = G⁻¹ (y − μ)[order]`` (their squares sum to ``D²``)."""
    G, order = pivoted_cholesky(cov)
    return np.linalg.solve(G, (np.asarray(y, float) - mean)[order])


def predictive_covariance(model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Latent predictive mean ``(q, m)`` and joint covariance ``(m, q, q)`` (noise included)
    at physical ``X``, for exact-GP emulators and files; ``None`` for other kinds."""
    from emulators.runtime.gp import kernel_matrix

    pred = getattr(model, "predictor", None) or getattr(model, "_predictor", None)
    if pred is None or not all(hasattr(pred, a) for a in ("L_inv", "alpha", "U", "kernel")):
        return None
    U = model.space.to_unit(model.space.check(X))
    mean, _ = pred(U)
    Ks = kernel_matrix(pred.kernel, pred.U, U, pred.lengthscale, pred.outputscale)
    Kss = kernel_matrix(pred.kernel, U, U, pred.lengthscale, pred.outputscale)
    V = np.matmul(pred.L_inv, Ks)
    cov = Kss - np.matmul(np.swapaxes(V, 1, 2), V) + pred.noise[:, None, None] * np.eye(len(U))
    return mean, cov


def _jitter(cov: np.ndarray) -> np.ndarray:
    scale = max(float(np.mean(np.diag(cov))), 1e-300)
    return cov + 1e-12 * scale * np.eye(len(cov))


# -- verdicts ----------------------------------------------------------------------------
def std_error_verdicts(e: np.ndarray, X: np.ndarray | None, input_names: list[str],
                       name: str) -> list[Verdict]:
    """Verdicts from standardised errors ``(n,)`` or ``(n, T)`` (waveforms: each run scored
    by the root mean square of its errors)."""
    e = np.asarray(e, float)
    n = len(e)
    score = e if e.ndim == 1 else np.sqrt(np.mean(e**2, axis=1)) * np.sign(np.mean(e, axis=1))
    large = np.abs(score) > 2
    out = []
    ms = float(np.mean(e**2))
    n_large, bar = int(large.sum()), int(stats.binom.ppf(0.99, n, P_LARGE))
    if n_large > max(bar, 1) or ms > stats.chi2.ppf(0.99, n) / n:
        out.append(Verdict("over-confident", f"{name}: {n_large} of {n} runs have |standardised "
                           f"error| > 2 (about {P_LARGE * n:.1f} expected) and mean e² = "
                           f"{ms:.2f} (1 expected): the emulator is over-confident — its "
                           f"intervals are too narrow."))
    elif ms < stats.chi2.ppf(0.01, n) / n:
        out.append(Verdict("under-confident", f"{name}: mean e² = {ms:.3f} (1 expected): "
                           f"errors are much smaller than the stated uncertainty — the "
                           f"intervals are wider than needed (under-confident)."))
    bias = float(np.mean(score))
    if n >= 5 and abs(bias) > 0.5 and abs(bias) > 2.58 * np.std(score) / np.sqrt(n):
        side = "over-predicts" if bias < 0 else "under-predicts"
        out.append(Verdict("biased", f"{name}: mean standardised error {bias:+.2f}: the "
                           f"emulator systematically {side} the simulator."))
    if X is not None and n_large >= 2 and len(X) == n:
        region = _misfit_region(large, X, input_names)
        if region:
            out.append(Verdict("misfit region", f"{name}: {region}; the mean fits poorly "
                               f"there — add training runs in that region."))
    if not out:
        out.append(Verdict("ok", f"{name}: {n_large} of {n} runs with |standardised error| > "
                           f"2 and mean e² = {ms:.2f}: consistent with calibrated "
                           f"uncertainty."))
    return out


def _misfit_region(large: np.ndarray, X: np.ndarray, names: list[str]) -> str:
    """The input third where large errors gather most (``""`` if nowhere stands out)."""
    best, text = 0.0, ""
    n = len(large)
    for j in range(X.shape[1]):
        edges = np.quantile(X[:, j], [1 / 3, 2 / 3])
        part = np.digitize(X[:, j], edges)
        for p, where in enumerate(("lowest", "middle", "highest")):
            inside = part == p
            k_in, n_in = int(large[inside].sum()), int(inside.sum())
            k_out, n_out = int(large[~inside].sum()), int((~inside).sum())
            if k_in < 2 or n_in == 0:
                continue
            rate_in, rate_out = k_in / n_in, k_out / max(n_out, 1)
            if rate_in >= 3 * max(rate_out, 1 / n) and rate_in > best:
                lo, hi = X[inside, j].min(), X[inside, j].max()
                label = names[j] if j < len(names) else f"x{j}"
                best = rate_in
                text = (f"{k_in} of the {int(large.sum())} runs with |standardised error| > 2 "
                        f"lie in the {where} third of {label} ({lo:.4g} to {hi:.4g})")
    return text


def pivoted_verdict(d_pc: np.ndarray, label: str) -> Verdict | None:
    """Large pivoted errors early (variance) or late (correlation) in the order."""
    h = len(d_pc) // 2
    if h < 3:
        return None
    bar = max(int(stats.binom.ppf(0.99, h, P_LARGE)), 1)
    early, late = int((np.abs(d_pc[:h]) > 2).sum()), int((np.abs(d_pc[h:]) > 2).sum())
    if late > bar and late > early:
        return Verdict("correlation misfit", f"{label}: {late} large pivoted-Cholesky errors "
                       f"late in the pivot order (where runs are close to others): the "
                       f"correlation structure is wrong — length-scales likely too long.")
    if early > bar:
        return Verdict("over-confident", f"{label}: {early} large pivoted-Cholesky errors early "
                       f"in the pivot order (runs far from the others): the predictive "
                       f"variance is too small away from the training runs.")
    return None


# -- the whole -------------------------------------------------------------------------------
def diagnose(model: Any, X: np.ndarray, Y: Mapping[str, np.ndarray], *, q: int = 1,
             variance_scale: float = 1.0) -> Diagnostics:
    """Bastos–O'Hagan diagnostics of ``model`` at held-out inputs ``X (n, d)`` with truth
    ``Y {name: (n,) or (n, T)}`` in stored units.

    ``q`` is the number of mean coefficients (1: a constant mean).  ``variance_scale``
    multiplies every predictive (co)variance — for what-if checks such as "what if the
    emulator were 10× over-confident" (0.1).
    """
    X = np.asarray(X, float)
    pred = model.predict_dict(X)
    transform = model.outputs
    joint = predictive_covariance(model, X)
    gp = getattr(model, "predictor", None) or getattr(model, "_predictor", None)
    n_train = int(gp.U.shape[0]) if joint is not None else None
    latent = model._latent(X) if joint is None else joint
    names = list(model.space.names)
    out: dict[str, OutputDiagnostics] = {}
    col = 0
    for block in transform.blocks:
        k = block.latent_width
        cols = list(range(col, col + k))
        col += k
        if block.name not in Y:
            continue
        y = np.asarray(Y[block.name], float)
        mu, var = pred[block.name]
        e = (y - mu) / np.sqrt(np.maximum(var * variance_scale, 1e-300))
        tests = []
        if getattr(block, "group", None) is not None:
            # a scalar reduced with others by PCA: test it in physical units, its joint
            # covariance being the weighted sum of its group's component covariances
            k = 1
            tests.append(_group_member_test(transform, block.name, y, mu, var, joint,
                                            latent, variance_scale, n_train, q))
        z = _latent_truth(transform, block, cols, y) if cols else None  # (n, k)
        for i, c in enumerate(cols):
            label = block.name if k == 1 else (
                f"{block.name} PC{i + 1}" if block.basis is not None else f"{block.name}[{i}]")
            if joint is not None:
                cov = joint[1][c] * variance_scale
                m_c = joint[0][:, c]
                d2 = mahalanobis(z[:, i], m_c, cov)
                dpc = pivoted_errors(z[:, i], m_c, cov)
            else:  # no joint covariance: a diagonal one, pivoting = sorting by variance
                v_c = np.maximum(latent[1][:, c] * variance_scale, 1e-300)
                r_c = (z[:, i] - latent[0][:, c]) / np.sqrt(v_c)
                d2, dpc = float(np.sum(r_c**2)), r_c[np.argsort(-v_c, kind="stable")]
            low, high = mahalanobis_reference(len(X), n_train, q)
            tests.append(MahalanobisTest(label, d2, len(X), None if n_train is None
                                         else n_train - q, low, high, joint is not None, dpc))
        verdicts = std_error_verdicts(e, X, names, block.name)
        flagged = [t for t in tests if not t.verdict.ok]
        if k == 1 and joint is not None and not flagged:
            # individual errors are correlated; the joint D² decides calibration (§3.2):
            # keep only what the individual errors locate (bias, misfit region)
            verdicts = [v for v in verdicts if v.status not in
                        ("over-confident", "under-confident")] or [Verdict(
                            "ok", f"{block.name}: standardised errors and the joint "
                            f"Mahalanobis distance are consistent with calibrated "
                            f"uncertainty.")]
        if k == 1:
            if flagged:
                verdicts.append(tests[0].verdict)
        elif len(flagged) > max(1, int(stats.binom.ppf(0.99, k, 0.05))):
            worst = max(flagged, key=lambda t: abs(np.log(t.d2 / t.m)))
            verdicts.append(Verdict(worst.verdict.status, f"{block.name}: {len(flagged)} of "
                                    f"{k} latent columns fail the Mahalanobis test; worst "
                                    f"{worst.verdict.text}"))
        for t in tests[:3]:
            if t.pivoted is not None:
                v = pivoted_verdict(t.pivoted, t.label)
                if v is not None:
                    verdicts.append(v)
        if len(verdicts) > 1:
            verdicts = [v for v in verdicts if not v.ok] or verdicts[:1]
        out[block.name] = OutputDiagnostics(block.name, block.unit, e, tests, verdicts)
    return Diagnostics(out, X, names, n_train, dict(zip(names, model.space.units, strict=True)))


def _group_member_test(transform: Any, name: str, y: np.ndarray, mu: np.ndarray,
                       var: np.ndarray, joint: Any, latent: Any, variance_scale: float,
                       n_train: int | None, q: int) -> MahalanobisTest:
    """The Mahalanobis test of a scalar output reduced in a PCA group: with a joint
    covariance, ``Σ_c a_c² cov(z_c) + r I`` (``a``: its weights on the components, ``r``:
    the group's truncation variance for it); otherwise the diagonal one."""
    n = len(y)
    low, high = mahalanobis_reference(n, n_train, q)
    if joint is not None:
        cols, a = transform.column_map(name)
        g = next(g for g in transform.groups if name in g.members)
        resid = float(g.residual_var[g.members.index(name)])
        cov = np.einsum("c,cij->ij", a[:, 0] ** 2, joint[1][cols]) + resid * np.eye(n)
        cov *= variance_scale
        return MahalanobisTest(name, mahalanobis(y, mu, cov), n, None if n_train is None
                               else n_train - q, low, high, True, pivoted_errors(y, mu, cov))
    v = np.maximum(var * variance_scale, 1e-300)
    r = (y - mu) / np.sqrt(v)
    return MahalanobisTest(name, float(np.sum(r**2)), n, None, low, high, False,
                           r[np.argsort(-v, kind="stable")])


def _latent_truth(transform: Any, block: Any, cols: list[int], y: np.ndarray) -> np.ndarray:
    """The block's latent (standardised) columns of physical truth ``y``: ``(n, k)``."""
    y2 = y.reshape(len(y), -1)
    if block.basis is not None:
        y2 = (y2 - block.center) @ block.basis.T
    return (y2 - transform.y_mean[cols]) / transform.y_std[cols]
