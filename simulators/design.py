"""Parameter spaces and designs of experiments.

A :class:`ParameterSpace` is the one description of the inputs that the design, the
emulator's input scaling, the sensitivity analysis and the exported file's domain guard
all share.  Designs come from :mod:`scipy.stats.qmc`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from simulators.errors import OutOfDomainError, ParameterError

Distribution = Literal["uniform", "loguniform", "normal"]
_DISTRIBUTIONS = ("uniform", "loguniform", "normal")
SeedLike = int | np.random.Generator | np.random.SeedSequence | None


@dataclass(frozen=True)
class Parameter:
    """One named, bounded input.

    Parameters
    ----------
    name : str
        Identifier used everywhere (archive columns, card, reports).
    low, high : float
        Bounds of the domain, in ``unit``.  Emulators are valid inside them only.
    unit : str
        Physical unit, e.g. ``"Pa s m^-3"`` (free text, shown to people).
    dist : {"uniform", "loguniform", "normal"}
        Distribution used for sampling designs and for sensitivity analysis.  ``normal``
        is truncated to ``[low, high]`` and needs ``mu`` and ``sigma``.
    mu, sigma : float, optional
        Mean and standard deviation of a ``normal`` parameter, in ``unit``.
    description : str
        Free text for reports.
    """

    name: str
    low: float
    high: float
    unit: str = ""
    dist: Distribution = "uniform"
    mu: float | None = None
    sigma: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ParameterError(
                f"parameter name {self.name!r} must be a Python identifier "
                f"(letters, digits and '_', not starting with a digit)"
            )
        low, high = float(self.low), float(self.high)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ParameterError(
                f"parameter {self.name!r}: bounds must be finite with low < high, "
                f"got [{self.low}, {self.high}]"
            )
        if self.dist not in _DISTRIBUTIONS:
            raise ParameterError(
                f"parameter {self.name!r}: unknown distribution {self.dist!r}; "
                f"choose one of {', '.join(_DISTRIBUTIONS)}"
            )
        if self.dist == "loguniform" and low <= 0:
            raise ParameterError(
                f"parameter {self.name!r}: a log-uniform parameter needs low > 0, got {low}"
            )
        if self.dist == "normal":
            if self.mu is None or self.sigma is None or not self.sigma > 0:
                raise ParameterError(
                    f"parameter {self.name!r}: a normal parameter needs mu and sigma > 0 "
                    f"(it is truncated to [low, high])"
                )
        elif self.mu is not None or self.sigma is not None:
            raise ParameterError(
                f"parameter {self.name!r}: mu/sigma only apply to dist='normal', "
                f"not {self.dist!r}"
            )

    @property
    def scale(self) -> Literal["linear", "log"]:
        """The scale on which emulators see this input."""
        return "log" if self.dist == "loguniform" else "linear"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


@dataclass(frozen=True)
class ParameterSpace:
    """An ordered set of :class:`Parameter` objects.

    Examples
    --------
    >>> space = ParameterSpace([Parameter("R", 0.5e8, 2e8, unit="Pa s m^-3"),
    ...                         Parameter("C", 5e-9, 2e-8, unit="m^3 Pa^-1", dist="loguniform")])
    >>> space.sample(8, method="lhs", seed=1).shape
    (8, 2)
    """

    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    def __init__(self, parameters: Iterable[Parameter | Mapping[str, Any]]):
        params = tuple(p if isinstance(p, Parameter) else Parameter(**p) for p in parameters)
        if not params:
            raise ParameterError("a parameter space needs at least one parameter")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ParameterError(f"duplicate parameter names: {', '.join(dupes)}")
        object.__setattr__(self, "parameters", params)
        # Cached arrays for the vectorised scalings (a twin calls them on every query).
        log = np.array([p.scale == "log" for p in params])
        lo = np.array([p.low for p in params], dtype=float)
        hi = np.array([p.high for p in params], dtype=float)
        object.__setattr__(self, "_log", log)
        safe_lo, safe_hi = np.where(log, lo, 1.0), np.where(log, hi, 1.0)  # log only where > 0
        object.__setattr__(self, "_lo", np.where(log, np.log(safe_lo), lo))
        object.__setattr__(self, "_span", np.where(log, np.log(safe_hi / safe_lo), hi - lo))
        object.__setattr__(self, "_bounds", np.column_stack([lo, hi]))

    # -- basic views -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self):
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"no parameter named {name!r}; the space has {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def units(self) -> list[str]:
        return [p.unit for p in self.parameters]

    @property
    def bounds(self) -> np.ndarray:
        """Array ``(d, 2)`` of ``[low, high]`` per parameter."""
        return self._bounds.copy()

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": [p.to_dict() for p in self.parameters]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParameterSpace:
        try:
            return cls(data["parameters"])
        except (KeyError, TypeError) as exc:
            raise ParameterError(
                "cannot build a parameter space: expected "
                f"{{'parameters': [{{'name': ..., 'low': ..., 'high': ...}}, ...]}} "
                f"({type(exc).__name__})"
            ) from exc

    # -- checks and scalings -----------------------------------------------------------
    def as_array(self, X: Any) -> np.ndarray:
        """Return ``X`` as a float array ``(n, d)``; a dict of columns or one point is accepted."""
        if isinstance(X, Mapping):
            missing = [n for n in self.names if n not in X]
            extra = [k for k in X if k not in self.names]
            if missing or extra:
                raise ParameterError(
                    f"point keys do not match the space: missing {missing}, unknown {extra}"
                )
            X = np.column_stack([np.atleast_1d(np.asarray(X[n], dtype=float)) for n in self.names])
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != len(self):
            raise ParameterError(
                f"expected points of shape (n, {len(self)}) for inputs {self.names}, "
                f"got {X.shape}"
            )
        return X

    def check(self, X: Any, *, rtol: float = 1e-9) -> np.ndarray:
        """Return ``X`` as ``(n, d)``; raise :class:`OutOfDomainError` for a point outside.

        The message names the first offending value, its bounds and its column.
        """
        X = self.as_array(X)
        bad = self._outside(X, rtol)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            p = self.parameters[col]
            raise OutOfDomainError(
                f"{p.name}={X[row, col]:.6g} outside [{p.low:.6g}, {p.high:.6g}] "
                f"(row {row}, column {col}); {int(bad.any(axis=1).sum())} of {len(X)} points "
                f"are outside the domain"
            )
        return X

    def inside(self, X: Any, *, rtol: float = 1e-9) -> np.ndarray:
        """Boolean mask of the rows of ``X`` that :meth:`check` would accept."""
        return ~self._outside(self.as_array(X), rtol).any(axis=1)

    def _outside(self, X: np.ndarray, rtol: float) -> np.ndarray:
        b = self._bounds
        tol = rtol * (b[:, 1] - b[:, 0])
        return ~np.isfinite(X) | (X < b[:, 0] - tol) | (X > b[:, 1] + tol)

    def to_unit(self, X: Any) -> np.ndarray:
        """Map physical points to the unit cube on each parameter's emulator scale."""
        X = self.as_array(X)
        if self._log.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                X = np.where(self._log, np.log(np.where(self._log, X, 1.0)), X)
        return (X - self._lo) / self._span

    def from_unit(self, U: Any) -> np.ndarray:
        """Inverse of :meth:`to_unit`."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        X = self._lo + U * self._span
        return np.where(self._log, np.exp(np.where(self._log, X, 0.0)), X)

    def to_probability(self, X: Any) -> np.ndarray:
        """Inverse of :meth:`from_probability`: each parameter's CDF, points ``(n, d)``."""
        X = self.as_array(X)
        P = self.to_unit(X)
        for j, p in enumerate(self.parameters):
            if p.dist == "normal":
                from scipy import stats

                a, b = (p.low - p.mu) / p.sigma, (p.high - p.mu) / p.sigma
                P[:, j] = stats.truncnorm.cdf(X[:, j], a, b, loc=p.mu, scale=p.sigma)
        return np.clip(P, 0.0, 1.0)

    def from_probability(self, P: Any) -> np.ndarray:
        """Map points of the unit cube through each parameter's inverse CDF.

        Uniform points become draws from the space's distributions (used by designs and
        sensitivity analysis).
        """
        P = np.atleast_2d(np.asarray(P, dtype=float))
        X = np.empty_like(P)
        for j, p in enumerate(self.parameters):
            if p.dist == "normal":
                from scipy import stats

                a, b = (p.low - p.mu) / p.sigma, (p.high - p.mu) / p.sigma
                X[:, j] = stats.truncnorm.ppf(P[:, j], a, b, loc=p.mu, scale=p.sigma)
            else:  # uniform on the parameter's own scale
                X[:, j] = self.from_unit(P)[:, j]
        return X

    # -- designs -------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        method: Literal["lhs", "sobol", "random"] = "lhs",
        seed: SeedLike = None,
        *,
        candidates: int = 32,
    ) -> np.ndarray:
        """Draw a design of ``n`` points, shape ``(n, d)``, in physical units.

        Parameters
        ----------
        n : int
            Number of points.
        method : {"lhs", "sobol", "random"}
            ``lhs``: Latin hypercube, the best of ``candidates`` scipy designs by the
            maximin criterion (largest smallest pairwise distance).  ``sobol``: scrambled
            Sobol' sequence (``n`` a power of two keeps its balance properties).
            ``random``: independent uniform draws.
        seed : int, Generator or None
            Explicit randomness; the same seed gives the same design.
        candidates : int
            Number of Latin hypercubes compared for ``lhs``.
        """
        from scipy.spatial import cKDTree
        from scipy.stats import qmc

        if not isinstance(n, int | np.integer) or n < 1:
            raise ParameterError(f"n must be a positive integer, got {n!r}")
        rng = np.random.default_rng(seed)
        d = len(self)
        if method == "lhs":
            best, best_score = None, -np.inf
            for _ in range(max(1, candidates if n > 1 else 1)):
                U = qmc.LatinHypercube(d, rng=rng).random(n)
                # smallest pairwise distance by a k-d tree: O(n log n) memory and time
                score = cKDTree(U).query(U, k=2)[0][:, 1].min() if n > 1 else 0.0
                if score > best_score:
                    best, best_score = U, score
            U = best
        elif method == "sobol":
            if n & (n - 1):
                warnings.warn(
                    f"a Sobol' design of n={n} points is not balanced; use a power of two "
                    f"(e.g. {1 << int(math.ceil(math.log2(n)))})",
                    UserWarning,
                    stacklevel=2,
                )
            with warnings.catch_warnings():  # ours above says what to do instead
                warnings.simplefilter("ignore", UserWarning)
                U = qmc.Sobol(d, scramble=True, rng=rng).random(n)
        elif method == "random":
            U = rng.random((n, d))
        else:
            raise ParameterError(
                f"unknown design method {method!r}; choose 'lhs', 'sobol' or 'random'"
            )
        return self.from_probability(U)

    def nested(self, sizes: Sequence[int], method: Literal["lhs", "sobol", "random"] = "lhs",
               seed: SeedLike = None) -> list[np.ndarray]:
        """Nested designs for fidelity levels, lowest first: see :func:`nested`."""
        return nested(self, sizes, method=method, seed=seed)

    def points(self, X: np.ndarray) -> list[dict[str, float]]:
        """Rows of ``X`` as ``{name: value}`` dicts (what simulators take)."""
        X = self.as_array(X)
        return [dict(zip(self.names, map(float, row), strict=True)) for row in X]


def space_from_config(parameters: Sequence[Mapping[str, Any]]) -> ParameterSpace:
    """Build a space from a config list of parameter mappings (as in ``conf/simulator``)."""
    return ParameterSpace([dict(p) for p in parameters])


def nested(space: ParameterSpace, sizes: Sequence[int], *,
           method: Literal["lhs", "sobol", "random"] = "lhs",
           seed: SeedLike = None) -> list[np.ndarray]:
    """Designs for fidelity levels, lowest first, each level's points a subset of the one below.

    The lowest level is a ``method`` design of ``sizes[0]`` points; each higher level picks
    ``sizes[t]`` of the level below's points by greedy maximin selection on the emulator's
    unit-cube scale (start from the point nearest the centre, then repeatedly add the point
    farthest from those chosen), so subsets stay space-filling.  Nested designs let the
    recursive multi-fidelity model (Le Gratiet & Garnier 2014) use the lower level's runs
    at the higher level's points exactly.

    Returns a list of arrays ``(sizes[t], d)`` in physical units.
    """
    sizes = [int(s) for s in sizes]
    if not sizes or any(s < 1 for s in sizes):
        raise ParameterError(f"nested design sizes must be positive integers, got {sizes}")
    if any(b > a for a, b in zip(sizes, sizes[1:], strict=False)):
        raise ParameterError(f"nested design sizes must not grow with the level (lowest "
                             f"fidelity first, it has the most runs), got {sizes}")
    designs = [space.sample(sizes[0], method=method, seed=seed)]
    for size in sizes[1:]:
        below = designs[-1]
        designs.append(below[_maximin_subset(space.to_unit(below), size)])
    return designs


def extend(space: ParameterSpace, X_old: np.ndarray, n: int, *, seed: SeedLike = None,
           candidates: int = 32) -> np.ndarray:
    """A design of ``n`` points whose first rows are ``X_old`` (the runs already simulated).

    Latin-hypercube augmentation (as R's ``lhs::augmentLHS``): on each parameter's
    probability scale, cut ``[0, 1]`` into ``n`` strata, place the ``n - len(X_old)`` new
    points in strata the old points leave empty (one per stratum, randomly paired across
    parameters), and keep the best of ``candidates`` such draws by the maximin criterion
    over old and new points together.  When the old points fall in distinct strata at the
    new resolution (e.g. doubling an LHS) the result is an exact Latin hypercube.

    Returns ``(n, d)`` in physical units; ``X_old[:n]`` when ``n <= len(X_old)``.
    """
    from scipy.spatial import cKDTree

    X_old = space.as_array(X_old)
    n_old = len(X_old)
    if n <= n_old:
        return X_old[:n]
    rng = np.random.default_rng(seed)
    P_old = space.to_probability(X_old)
    m, d = n - n_old, len(space)
    empty = []
    for j in range(d):
        taken = np.unique(np.minimum((P_old[:, j] * n).astype(int), n - 1))
        empty.append(np.setdiff1d(np.arange(n), taken))  # at least m strata are empty
    best, best_score = None, -np.inf
    for _ in range(max(1, candidates)):
        P_new = np.column_stack([(rng.choice(empty[j], m, replace=False) + rng.random(m)) / n
                                 for j in range(d)])
        P_all = np.vstack([P_old, P_new])
        score = cKDTree(P_all).query(P_new, k=2)[0][:, 1].min()
        if score > best_score:
            best, best_score = P_new, score
    return np.vstack([X_old, space.from_probability(best)])


def extend_subset(U: np.ndarray, chosen: Sequence[int], k: int) -> np.ndarray:
    """Indices of ``k`` rows of ``U``: ``chosen`` first (in order), then rows added by the
    greedy maximin rule of :func:`nested` (a higher fidelity level that grows inside the
    level below it)."""
    chosen = [int(i) for i in chosen][:k]
    if not chosen:
        return _maximin_subset(U, k)
    dist = np.min([((U - U[i]) ** 2).sum(axis=1) for i in chosen], axis=0)
    while len(chosen) < k:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((U - U[nxt]) ** 2).sum(axis=1))
    return np.array(chosen)


def _maximin_subset(U: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows of ``U`` chosen greedily to maximise the smallest distance."""
    chosen = [int(np.argmin(((U - 0.5) ** 2).sum(axis=1)))]
    dist = ((U - U[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < k:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((U - U[nxt]) ** 2).sum(axis=1))
    return np.array(sorted(chosen))
