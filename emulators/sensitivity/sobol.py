"""Variance-based (Sobol') sensitivity indices with bootstrap confidence intervals.

Sampling follows Saltelli et al. (2010, Comput Phys Commun 181:259): two independent
``N × d`` matrices ``A`` and ``B`` (one scrambled Sobol' sequence of dimension ``2d``) and,
for each input ``i``, the matrix ``A_B^(i)`` equal to ``A`` with column ``i`` from ``B``;
``N (d + 2)`` model evaluations in all (``N (2d + 2)`` with second-order indices, which also
need ``B_A^(i)``, ``B`` with column ``i`` from ``A``).  Estimators:

* first order, Saltelli 2010 Table 2 (b):  ``V_i  = mean(f(B) (f(A_B^i) − f(A)))``
* total effect, Table 2 (f) (Jansen 1999): ``V_Ti = mean((f(A) − f(A_B^i))²) / 2``
* second order, Saltelli 2002 eq. (12):    ``V_ij = mean(f(B_A^i) f(A_B^j) − f(A) f(B))``,
  ``S_ij = V_ij / V − S_i − S_j``

with ``V`` the variance of ``f`` over ``A`` and ``B`` and ``f`` first centred on its mean over
all ``N (d + 2)`` evaluations.  Centring leaves the estimators unbiased, removes the variance
a large mean adds to (b) (pressures in Pa), and is exactly what SALib does, so on the same
samples both give the same numbers.  Inputs are drawn from the parameter space's
distributions.  Confidence intervals: percentile bootstrap over the ``N`` rows.

Aggregated (generalised) indices of a vector output (Gamboa, Janon, Klein & Lagnoux 2014,
Electron J Stat 8:575, eq. (2)): ``S_i = Σ_t V_i(t) / Σ_t V(t)``, the share of the output's
total variance, summed over its components, that input ``i`` explains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.design import ParameterSpace


@dataclass
class SobolResult:
    """Sobol' indices; arrays are ``(d,)`` for one output or ``(m, d)`` (inputs last).

    ``S1_conf`` / ``ST_conf`` are the half-widths of the ``conf_level`` bootstrap
    intervals (``S1_low``/``S1_high`` etc. give the bounds).  ``S2`` (``(d, d)`` or
    ``(m, d, d)``, symmetric, NaN on the diagonal) is present when second-order indices
    were asked for.
    """

    names: list[str]
    S1: np.ndarray
    ST: np.ndarray
    S1_low: np.ndarray
    S1_high: np.ndarray
    ST_low: np.ndarray
    ST_high: np.ndarray
    conf_level: float
    n: int
    outputs: list[str] = field(default_factory=list)
    S2: np.ndarray | None = None
    S2_low: np.ndarray | None = None
    S2_high: np.ndarray | None = None

    @property
    def S1_conf(self) -> np.ndarray:
        return (self.S1_high - self.S1_low) / 2

    @property
    def ST_conf(self) -> np.ndarray:
        return (self.ST_high - self.ST_low) / 2

    def to_dict(self) -> dict[str, Any]:
        keys = ["S1", "ST", "S1_low", "S1_high", "ST_low", "ST_high"]
        if self.S2 is not None:
            keys += ["S2", "S2_low", "S2_high"]
        return {"inputs": self.names, "outputs": self.outputs, "n": self.n,
                "conf_level": self.conf_level,
                **{k: _jsonable(getattr(self, k)) for k in keys}}

    def table(self, output: int = 0) -> str:
        """Plain-text table of the indices for one output."""
        def row(a):
            return a if a.ndim == 1 else a[output]
        s1, st = row(self.S1), row(self.ST)
        c1, ct = row(self.S1_conf), row(self.ST_conf)
        width = max(len(n) for n in self.names)
        lines = [f"{'input':<{width}}  {'S1':>14}  {'ST':>14}"]
        for j, name in enumerate(self.names):
            lines.append(f"{name:<{width}}  {s1[j]:7.3f} ±{c1[j]:5.3f}  {st[j]:7.3f} ±{ct[j]:5.3f}")
        return "\n".join(lines)


def _jsonable(a: Any) -> Any:
    """Arrays as nested lists with NaN as ``None`` (JSON has no NaN)."""
    return _nan_to_none(np.asarray(a, dtype=float).tolist())


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return None if isinstance(x, float) and not np.isfinite(x) else x


# -- design ------------------------------------------------------------------------------
@dataclass
class SaltelliDesign:
    """The matrices of a Saltelli design, in physical units.

    ``A``, ``B``: ``(N, d)``; ``AB[i]`` (``(d, N, d)``) is ``A`` with column ``i`` from ``B``;
    ``BA[i]`` is ``B`` with column ``i`` from ``A`` (second order only, else ``None``).
    """

    A: np.ndarray
    B: np.ndarray
    AB: np.ndarray
    BA: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.A)

    @property
    def d(self) -> int:
        return self.A.shape[1]

    def points(self) -> np.ndarray:
        """All evaluation points ``(N (d + 2), d)`` (or ``N (2d + 2)``): A, B, AB, BA."""
        parts = [self.A, self.B, self.AB.reshape(-1, self.d)]
        if self.BA is not None:
            parts.append(self.BA.reshape(-1, self.d))
        return np.concatenate(parts, axis=0)

    def split(self, Y: np.ndarray) -> tuple[np.ndarray, ...]:
        """Model values ``(q, k)`` at :meth:`points`, centred on their mean (module doc),
        split into ``fA (N, k)``, ``fB``, ``fAB (d, N, k)`` and ``fBA`` (or ``None``)."""
        n, d = self.n, self.d
        Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
        Y = Y - Y.mean(axis=0)
        fA, fB = Y[:n], Y[n:2 * n]
        fAB = Y[2 * n:(2 + d) * n].reshape(d, n, -1)
        fBA = Y[(2 + d) * n:].reshape(d, n, -1) if self.BA is not None else None
        return fA, fB, fAB, fBA


def saltelli_matrices(space: ParameterSpace, n: int, seed: Any = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``A`` and ``B`` (each ``(n, d)``, physical units) from one Sobol' sequence."""
    from scipy.stats import qmc

    d = len(space)
    P = qmc.Sobol(2 * d, scramble=True, rng=np.random.default_rng(seed)).random(n)
    return space.from_probability(P[:, :d]), space.from_probability(P[:, d:])


def saltelli_design(space: ParameterSpace, n: int, seed: Any = None, *,
                    second_order: bool = False) -> SaltelliDesign:
    """The Saltelli design of base size ``n`` over ``space`` (see :class:`SaltelliDesign`)."""
    A, B = saltelli_matrices(space, n, seed)
    return design_from_matrices(A, B, second_order=second_order)


def design_from_matrices(A: np.ndarray, B: np.ndarray, *, second_order: bool = False
                         ) -> SaltelliDesign:
    """A :class:`SaltelliDesign` from given ``A`` and ``B`` (e.g. SALib's sample)."""
    d = A.shape[1]
    AB = np.repeat(A[None], d, axis=0)
    BA = np.repeat(B[None], d, axis=0) if second_order else None
    for i in range(d):
        AB[i, :, i] = B[:, i]
        if BA is not None:
            BA[i, :, i] = A[:, i]
    return SaltelliDesign(A, B, AB, BA)


# -- estimators (pure; columns are independent outputs) ----------------------------------
def _row_terms(fA, fB, fAB, fBA=None) -> dict[str, np.ndarray]:
    """Per-row summands ``(N, ...)`` of every estimator: each partial variance is their
    mean over rows, so a bootstrap resample is a weighted mean (one matmul)."""
    d = len(fAB)
    t = {"m1": fA + fB, "m2": fA**2 + fB**2,  # moments of the 2N values of f(A), f(B)
         "V1": np.stack([fB * (fAB[i] - fA) for i in range(d)], axis=1),  # Table 2 (b)
         "VT": np.stack([0.5 * (fA - fAB[i]) ** 2 for i in range(d)], axis=1)}  # (f)
    if fBA is not None:  # Saltelli 2002 eq. (12) for i < j (the rest is unused)
        t["Vc"] = np.stack([np.stack([fBA[i] * fAB[j] - fA * fB for j in range(d)], axis=1)
                            for i in range(d)], axis=1)
    return t


def _weighted(terms: dict[str, np.ndarray], W: np.ndarray) -> dict[str, np.ndarray]:
    """Partial variances for each row of weights ``W (B, N)`` (rows sum to 1): ``V (B, k)``,
    ``V1``/``VT (B, k, d)``, ``Vc (B, k, d, d)``."""
    B, N = W.shape

    def wmean(a):
        return (W @ a.reshape(N, -1)).reshape(B, *a.shape[1:])
    m1, m2 = wmean(terms["m1"]) / 2, wmean(terms["m2"]) / 2
    out = {"V": m2 - m1**2,
           "V1": np.moveaxis(wmean(terms["V1"]), 1, -1),
           "VT": np.moveaxis(wmean(terms["VT"]), 1, -1)}
    if "Vc" in terms:
        Vc = np.moveaxis(wmean(terms["Vc"]), -1, 1)  # (B, k, d, d)
        d = Vc.shape[-1]
        upper = np.triu(np.ones((d, d), dtype=bool), 1)
        Vc = np.where(upper, Vc, np.swapaxes(Vc, -1, -2))  # the i < j estimate, as SALib
        Vc[..., np.arange(d), np.arange(d)] = np.nan
        out["Vc"] = Vc
    return out


def partial_variances(fA: np.ndarray, fB: np.ndarray, fAB: np.ndarray,
                      fBA: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Variance ``V (k,)``, first-order ``V1 (k, d)``, total ``VT (k, d)`` and, with
    ``fBA``, closed second-order ``Vc (k, d, d)`` partial variances of centred values."""
    n = len(fA)
    pv = _weighted(_row_terms(fA, fB, fAB, fBA), np.full((1, n), 1.0 / n))
    return {k: v[0] for k, v in pv.items()}


def indices_from_variances(pv: dict[str, np.ndarray],
                           groups: list[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Indices ``S1 (k, d)``, ``ST``, ``S2 (k, d, d)`` from :func:`partial_variances`.

    ``groups``: column-index arrays; each group's indices are aggregated (Gamboa et al.
    2014, eq. 2: summed partial variances over summed variances) into one row.
    """
    if groups is not None:
        pv = {k: np.stack([v[g].sum(axis=0) for g in groups]) for k, v in pv.items()}
    V = np.where(pv["V"] > 0, pv["V"], np.nan)
    S1 = pv["V1"] / V[:, None]
    out = {"S1": S1, "ST": pv["VT"] / V[:, None]}
    if "Vc" in pv:
        out["S2"] = pv["Vc"] / V[:, None, None] - S1[:, :, None] - S1[:, None, :]
    return out


def sobol_indices(fA: np.ndarray, fB: np.ndarray, fAB: np.ndarray,
                  fBA: np.ndarray | None = None, groups: list[np.ndarray] | None = None
                  ) -> dict[str, np.ndarray]:
    """Point estimates ``{"S1", "ST"[, "S2"]}`` from centred values (see the module doc)."""
    return indices_from_variances(partial_variances(fA, fB, fAB, fBA), groups)


def bootstrap_intervals(fA, fB, fAB, fBA, *, n_boot: int, conf_level: float,
                        rng: np.random.Generator, groups: list[np.ndarray] | None = None
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Percentile-bootstrap bounds ``{key: (low, high)}`` over the ``N`` rows; each
    resample is a vector of row counts, so all resamples cost a few matrix products."""
    n = len(fA)
    terms = _row_terms(fA, fB, fAB, fBA)
    boots: dict[str, list[np.ndarray]] = {}
    step = max(1, min(n_boot, (8 << 20) // n))  # ≤ 64 MB of weights at once
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        draws = rng.integers(0, n, (b, n))
        W = np.stack([np.bincount(r, minlength=n) for r in draws]) / n
        pv = _weighted(terms, W)
        for i in range(b):
            est = indices_from_variances({k: v[i] for k, v in pv.items()}, groups)
            for k, v in est.items():
                boots.setdefault(k, []).append(v)
    q = [(1 - conf_level) / 2 * 100, (1 + conf_level) / 2 * 100]
    out = {}
    for k, v in boots.items():
        with np.errstate(all="ignore"), _quiet_nan():
            lo, hi = np.nanpercentile(np.stack(v), q, axis=0)
        out[k] = (lo, hi)
    return out


class _quiet_nan:
    """Silence 'All-NaN slice' (the S2 diagonal is NaN by design)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


# -- public API ----------------------------------------------------------------------------
def check_options(n: int, n_boot: int, conf_level: float) -> None:
    """Validate the common options once, with messages that name the fix."""
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level} (e.g. 0.95)")
    if int(n) < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    if int(n_boot) < 0:
        raise ValueError(f"n_boot must be >= 0 (0 skips the intervals), got {n_boot}")


def sobol(
    model: Any,
    space: ParameterSpace,
    n: int = 16384,
    *,
    seed: int | np.random.Generator | None = None,
    n_boot: int = 500,
    conf_level: float = 0.95,
    output_names: list[str] | None = None,
    second_order: bool = False,
    groups: dict[str, list[int]] | None = None,
) -> SobolResult:
    """Sobol' first-order and total indices of ``model`` over ``space``.

    Parameters
    ----------
    model : emulator or callable
        An object with ``predict(X) -> (mean, var)`` (its mean is analysed) or a function
        ``f(X) -> (N,) or (N, m)`` of physical inputs ``X`` of shape ``(N, d)``.
    space : ParameterSpace
        Inputs and their distributions.
    n : int
        Base sample size ``N`` (a power of two); the model is called on ``N (d + 2)`` points
        (``N (2d + 2)`` with ``second_order``).  The default 2¹⁴ puts the Ishigami and
        Sobol' G-function indices within 0.001 of their closed forms.
    seed : int or Generator, optional
        Seed of the scrambled Sobol' sequence and of the bootstrap.
    n_boot : int
        Bootstrap resamples for the confidence intervals (0 to skip).
    conf_level : float
        Level of the intervals, in (0, 1).
    second_order : bool
        Also estimate the second-order indices ``S2``.
    groups : dict, optional
        ``{name: [column, ...]}``: instead of one row per output column, one aggregated
        (generalised, Gamboa et al. 2014) row per group of columns, e.g. a whole waveform.
    """
    check_options(n, n_boot, conf_level)
    rng = np.random.default_rng(seed)
    f = _as_function(model)
    design = saltelli_design(space, int(n), rng, second_order=second_order)
    Y = np.asarray(f(design.points()), dtype=float)
    single = Y.ndim == 1 and groups is None
    cols = [np.asarray(g, dtype=int) for g in groups.values()] if groups else None
    outputs = list(groups) if groups else list(output_names or [])
    return sobol_result(design, Y, space.names, single=single, groups=cols, outputs=outputs,
                        n_boot=n_boot, conf_level=conf_level, rng=rng)


def sobol_result(design: SaltelliDesign, Y: np.ndarray, names: list[str], *,
                 single: bool = False, groups: list[np.ndarray] | None = None,
                 outputs: list[str] | None = None, n_boot: int = 0, conf_level: float = 0.95,
                 rng: Any = None) -> SobolResult:
    """A :class:`SobolResult` from model values ``Y (q,) or (q, k)`` at ``design.points()``."""
    rng = np.random.default_rng(rng)
    parts = design.split(Y)
    est = sobol_indices(*parts, groups=groups)
    bounds = {k: (v.copy(), v.copy()) for k, v in est.items()}
    if n_boot > 0:
        bounds.update(bootstrap_intervals(*parts, n_boot=n_boot, conf_level=conf_level,
                                          rng=rng, groups=groups))
    sq = (lambda a: a[0]) if single else (lambda a: a)
    s2 = {}
    if "S2" in est:
        s2 = {"S2": sq(est["S2"]), "S2_low": sq(bounds["S2"][0]),
              "S2_high": sq(bounds["S2"][1])}
    return SobolResult(names, sq(est["S1"]), sq(est["ST"]), sq(bounds["S1"][0]),
                       sq(bounds["S1"][1]), sq(bounds["ST"][0]), sq(bounds["ST"][1]),
                       conf_level, design.n, outputs=list(outputs or []), **s2)


def _as_function(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    if hasattr(model, "predict"):
        return lambda X: model.predict(X)[0]
    if callable(model):
        return model
    raise TypeError(f"model must have predict(X) or be callable, got {type(model).__name__}")
