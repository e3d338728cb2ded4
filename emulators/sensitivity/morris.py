"""Morris elementary-effects screening: which inputs can be dropped before emulation.

Design (Morris 1991, Technometrics 33:161, Sect. 3): ``r`` one-at-a-time trajectories on a
``p``-level grid of the unit probability cube, step ``Δ = p / (2 (p − 1))``; each
trajectory starts at a random grid point and moves every input once, in random order, by
``+Δ`` or ``−Δ`` (whichever stays in the cube).  ``r (d + 1)`` model runs in all.  Points
are mapped through each input's distribution (``space.from_probability``), so the
screening sees the same input distribution as the Sobol' analysis.

Statistics per input, on the probability scale (output units per unit of probability, so
inputs of different units compare): ``μ`` the mean elementary effect, ``μ*`` the mean of
its absolute value (Campolongo, Cariboni & Saltelli 2007, eq. 3) and ``σ`` its standard
deviation — large ``σ`` flags non-linearity or interaction.  ``μ*`` intervals: percentile
bootstrap over trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emulators.sensitivity.sobol import _as_function, _jsonable
from simulators.design import ParameterSpace


@dataclass
class MorrisResult:
    """Morris statistics; arrays are ``(d,)`` for one output or ``(m, d)``."""

    names: list[str]
    mu: np.ndarray
    mu_star: np.ndarray
    sigma: np.ndarray
    mu_star_low: np.ndarray
    mu_star_high: np.ndarray
    r: int
    levels: int
    outputs: list[str] = field(default_factory=list)

    def _row(self, a: np.ndarray, output: int) -> np.ndarray:
        return a if a.ndim == 1 else a[output]

    def ranking(self, output: int = 0) -> list[str]:
        """Inputs by decreasing ``μ*`` for one output."""
        order = np.argsort(-self._row(self.mu_star, output), kind="stable")
        return [self.names[i] for i in order]

    def inert(self, threshold: float = 0.01) -> list[str]:
        """Inputs whose ``μ*`` is below ``threshold`` × the largest ``μ*`` for *every* output
        (candidates to fix at a nominal value before emulation)."""
        ms = np.atleast_2d(self.mu_star)
        top = np.max(ms, axis=1, keepdims=True)
        small = np.all(ms <= threshold * np.where(top > 0, top, 1.0), axis=0)
        return [n for n, s in zip(self.names, small, strict=True) if s]

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.names, "outputs": self.outputs, "r": self.r,
                "levels": self.levels,
                **{k: _jsonable(getattr(self, k)) for k in
                   ("mu", "mu_star", "sigma", "mu_star_low", "mu_star_high")}}

    def table(self, output: int = 0) -> str:
        ms, sd = self._row(self.mu_star, output), self._row(self.sigma, output)
        lo, hi = self._row(self.mu_star_low, output), self._row(self.mu_star_high, output)
        w = max(len(n) for n in self.names)
        lines = [f"{'input':<{w}}  {'mu*':>10}  {'interval':>23}  {'sigma':>10}"]
        for j in np.argsort(-ms, kind="stable"):
            lines.append(f"{self.names[j]:<{w}}  {ms[j]:10.4g}  [{lo[j]:10.4g}, {hi[j]:10.4g}]"
                         f"  {sd[j]:10.4g}")
        return "\n".join(lines)


def morris_design(d: int, r: int, levels: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trajectories on the unit cube: points ``(r, d + 1, d)``, the input moved at each
    step ``(r, d)`` and the signed step ``(r, d)``."""
    delta = levels / (2.0 * (levels - 1))
    P = np.empty((r, d + 1, d))
    moved = np.empty((r, d), dtype=int)
    step = np.empty((r, d))
    grid = np.arange(levels) / (levels - 1)
    for t in range(r):
        x = rng.choice(grid, size=d)
        P[t, 0] = x
        order = rng.permutation(d)
        for s, i in enumerate(order):
            h = delta if x[i] + delta <= 1 + 1e-12 else -delta
            x = x.copy()
            x[i] = min(max(x[i] + h, 0.0), 1.0)
            P[t, s + 1] = x
            moved[t, s], step[t, s] = i, h
    return P, moved, step


def morris(
    model: Any,
    space: ParameterSpace,
    r: int = 50,
    *,
    levels: int = 4,
    seed: int | np.random.Generator | None = None,
    n_boot: int = 200,
    conf_level: float = 0.95,
    output_names: list[str] | None = None,
) -> MorrisResult:
    """Morris screening of ``model`` over ``space`` (see the module doc).

    Parameters
    ----------
    model : emulator or callable
        ``predict(X) -> (mean, var)`` (the mean is screened) or ``f(X) -> (N,) or (N, m)``.
    r : int
        Number of trajectories (``r (d + 1)`` runs); 20–50 is customary.
    levels : int
        Grid levels ``p`` (even, ≥ 2; 4 is customary).
    """
    if int(r) < 2:
        raise ValueError(f"r must be >= 2 trajectories (sigma needs two), got {r}")
    if int(levels) < 2 or int(levels) % 2:
        raise ValueError(f"levels must be an even number >= 2 (e.g. 4), got {levels}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    rng = np.random.default_rng(seed)
    f = _as_function(model)
    d = len(space)
    P, moved, step = morris_design(d, int(r), int(levels), rng)
    Y = np.asarray(f(space.from_probability(P.reshape(-1, d))), dtype=float)
    single = Y.ndim == 1
    Y = Y.reshape(int(r), d + 1, -1)
    # elementary effects EE[t, i, :] of input i on trajectory t (Morris 1991, eq. 1)
    diff = (Y[:, 1:] - Y[:, :-1]) / step[:, :, None]
    EE = np.empty_like(diff)
    rows = np.arange(int(r))[:, None]
    EE[rows, moved] = diff
    stats = _stats(EE)
    lo = hi = stats["mu_star"]
    if n_boot > 0:
        boots = np.stack([_stats(EE[rng.integers(0, int(r), int(r))])["mu_star"]
                          for _ in range(n_boot)])
        lo, hi = np.percentile(boots, [(1 - conf_level) * 50, (1 + conf_level) * 50], axis=0)
    sq = (lambda a: a[0]) if single else (lambda a: a)
    return MorrisResult(space.names, sq(stats["mu"]), sq(stats["mu_star"]), sq(stats["sigma"]),
                        sq(lo), sq(hi), int(r), int(levels), list(output_names or []))


def _stats(EE: np.ndarray) -> dict[str, np.ndarray]:
    """``μ``, ``μ*``, ``σ`` as ``(m, d)`` from elementary effects ``(r, d, m)``."""
    return {"mu": EE.mean(axis=0).T, "mu_star": np.abs(EE).mean(axis=0).T,
            "sigma": EE.std(axis=0, ddof=1).T}
