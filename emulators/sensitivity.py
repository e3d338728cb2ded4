"""Variance-based (Sobol') sensitivity indices with bootstrap confidence intervals.

Sampling follows Saltelli et al. (2010, Comput Phys Commun 181:259): two independent
``N × d`` matrices ``A`` and ``B`` (one scrambled Sobol' sequence of dimension ``2d``) and,
for each input ``i``, the matrix ``A_B^(i)`` equal to ``A`` with column ``i`` from ``B``;
``N (d + 2)`` model evaluations in all.  Estimators (Saltelli 2010, Table 2):

* first order, (b):   ``S_i  = mean(f(B) (f(A_B^i) − f(A))) / V``
* total effect, (f):  ``S_Ti = mean((f(A) − f(A_B^i))²) / (2V)``  (Jansen 1999)

with ``V`` the variance of ``f`` over ``A`` and ``B``, and ``f`` centred on its sample mean
first (which leaves both estimators unbiased and makes (b) far less noisy when the output
has a large mean, as pressures in Pa do).  Inputs are drawn from the
parameter space's distributions.  Confidence intervals: percentile bootstrap over rows.
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
    intervals (``S1_low``/``S1_high`` etc. give the bounds).
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

    @property
    def S1_conf(self) -> np.ndarray:
        return (self.S1_high - self.S1_low) / 2

    @property
    def ST_conf(self) -> np.ndarray:
        return (self.ST_high - self.ST_low) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.names, "outputs": self.outputs, "n": self.n,
                "conf_level": self.conf_level,
                **{k: np.asarray(getattr(self, k)).tolist()
                   for k in ("S1", "ST", "S1_low", "S1_high", "ST_low", "ST_high")}}

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


def saltelli_matrices(space: ParameterSpace, n: int, seed: Any = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``A`` and ``B`` (each ``(n, d)``, physical units) from one Sobol' sequence."""
    from scipy.stats import qmc

    d = len(space)
    P = qmc.Sobol(2 * d, scramble=True, rng=np.random.default_rng(seed)).random(n)
    return space.from_probability(P[:, :d]), space.from_probability(P[:, d:])


def _first_order(fA, fB, fABi, var):
    return np.mean(fB * (fABi - fA), axis=0) / var  # Saltelli 2010, Table 2 (b)


def _total_order(fA, fABi, var):
    return 0.5 * np.mean((fA - fABi) ** 2, axis=0) / var  # Jansen 1999; Table 2 (f)


def _indices(fA, fB, fAB):
    var = np.var(np.concatenate([fA, fB], axis=0), axis=0)
    var = np.where(var > 0, var, np.nan)
    S1 = np.stack([_first_order(fA, fB, fAB[i], var) for i in range(len(fAB))], axis=-1)
    ST = np.stack([_total_order(fA, fAB[i], var) for i in range(len(fAB))], axis=-1)
    return S1, ST


def sobol(
    model: Any,
    space: ParameterSpace,
    n: int = 1024,
    *,
    seed: int | np.random.Generator | None = None,
    n_boot: int = 500,
    conf_level: float = 0.95,
    output_names: list[str] | None = None,
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
        Base sample size ``N`` (a power of two); the model is called on ``N (d + 2)`` points.
    seed : int or Generator, optional
        Seed of the scrambled Sobol' sequence and of the bootstrap.
    n_boot : int
        Bootstrap resamples for the confidence intervals (0 to skip).
    conf_level : float
        Level of the intervals, in (0, 1).
    """
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    rng = np.random.default_rng(seed)
    f = _as_function(model)
    A, B = saltelli_matrices(space, n, rng)
    d = len(space)
    AB = np.repeat(A[None], d, axis=0)
    for i in range(d):
        AB[i, :, i] = B[:, i]
    Y = np.asarray(f(np.concatenate([A, B, AB.reshape(-1, d)], axis=0)), dtype=float)
    single = Y.ndim == 1
    Y = Y.reshape(Y.shape[0], -1)
    # Centring on the mean of f(A), f(B) leaves the estimators unbiased (E[f(A_B^i) − f(A)]
    # = 0) and removes the variance that a large mean adds to estimator (b).
    Y = Y - Y[: 2 * n].mean(axis=0)
    fA, fB, fAB = Y[:n], Y[n:2 * n], Y[2 * n:].reshape(d, n, -1)
    S1, ST = _indices(fA, fB, fAB)  # (m, d)
    lo1, hi1, loT, hiT = S1.copy(), S1.copy(), ST.copy(), ST.copy()
    if n_boot > 0:
        boots1, bootsT = [], []
        for _ in range(n_boot):
            r = rng.integers(0, n, n)
            b1, bT = _indices(fA[r], fB[r], fAB[:, r])
            boots1.append(b1)
            bootsT.append(bT)
        q = [(1 - conf_level) / 2 * 100, (1 + conf_level) / 2 * 100]
        lo1, hi1 = np.nanpercentile(np.stack(boots1), q, axis=0)
        loT, hiT = np.nanpercentile(np.stack(bootsT), q, axis=0)
    squeeze = (lambda a: a[0]) if single else (lambda a: a)
    return SobolResult(space.names, squeeze(S1), squeeze(ST), squeeze(lo1), squeeze(hi1),
                       squeeze(loT), squeeze(hiT), conf_level, n,
                       outputs=list(output_names or []))


def _as_function(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    if hasattr(model, "predict"):
        return lambda X: model.predict(X)[0]
    if callable(model):
        return model
    raise TypeError(f"model must have predict(X) or be callable, got {type(model).__name__}")
