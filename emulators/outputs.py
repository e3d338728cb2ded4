"""Output transforms between physical outputs and the latent outputs a model learns.

numpy only: the twin-side runtime uses the same code to map predictions back.

An emulator's outputs are *blocks*: a scalar (one column) or a waveform on the phase grid
(``T`` columns).  A waveform block may be reduced to its first ``k`` principal components
(PCA by SVD of the centred training waveforms), keeping enough components to explain a
fraction ``pca`` of the variance.  Every latent column is then standardised to zero mean,
unit variance.  Predictive variances map back exactly for the linear maps used here:
``var(y_t) = Σ_i B_it² var(z_i) + r_t`` with ``B`` the basis and ``r_t`` the mean squared
truncation residual of the training waveforms (so truncation error is not hidden).

Correlated *scalar* outputs (tens of pressures and flows) may be reduced together: a
:class:`OutputGroup` standardises its member scalars, takes the principal components of
the ``(n, g)`` matrix and keeps the first ``k``; the members stay outputs of their own
(names, units, one physical column each) whose latent columns are the group's components.
Mean and variance map back as for waveforms, with the members' scales:
``y_i = c_i + s_i Σ_k B_ki z_k``, ``var(y_i) = s_i² Σ_k B_ki² var(z_k) + r_i``.  Latent
columns are ordered: the ungrouped blocks in order, then each group's components.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Most physical columns one output may have (a waveform of 100k samples is plenty).
MAX_WIDTH = 100_000


@dataclass
class OutputBlock:
    name: str
    unit: str
    shape: tuple[int, ...]
    basis: np.ndarray | None = None  # (k, T) orthonormal rows, PCA only
    center: np.ndarray | None = None  # (T,)
    residual_var: np.ndarray | None = None  # (T,)
    group: str | None = None  # the OutputGroup reducing this scalar with others, if any

    @property
    def width(self) -> int:
        """Number of physical columns."""
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def latent_width(self) -> int:
        """Latent columns of this block alone (0 for a member of a group)."""
        if self.group is not None:
            return 0
        return self.basis.shape[0] if self.basis is not None else self.width

    def card(self) -> dict[str, Any]:
        out = {"name": self.name, "unit": self.unit, "shape": list(self.shape),
               "transform": "pca" if self.basis is not None else "identity",
               "latent": self.latent_width}
        if self.group is not None:
            out["transform"], out["group"] = "pca_group", self.group
        return out


@dataclass
class OutputGroup:
    """Scalar outputs reduced together by PCA after standardisation.

    ``members`` (g names), ``basis (k, g)`` orthonormal rows, ``center (g,)`` and
    ``scale (g,)`` the members' training mean and standard deviation (physical units),
    ``residual_var (g,)`` the mean squared truncation residual (physical units²).
    """

    name: str
    members: list[str]
    basis: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    residual_var: np.ndarray

    @property
    def latent_width(self) -> int:
        return int(self.basis.shape[0])

    def card(self) -> dict[str, Any]:
        return {"name": self.name, "members": list(self.members), "latent": self.latent_width}

    def reduce(self, Y: np.ndarray) -> np.ndarray:
        """Members' physical values ``(n, g)`` → component scores ``(n, k)``."""
        return ((Y - self.center) / self.scale) @ self.basis.T


class OutputTransform:
    """Blocks, their PCA bases and the standardisation of the latent columns."""

    def __init__(self, blocks: list[OutputBlock], y_mean: np.ndarray, y_std: np.ndarray,
                 groups: list[OutputGroup] | None = None):
        self.blocks = blocks
        self.y_mean = np.asarray(y_mean, float)
        self.y_std = np.asarray(y_std, float)
        self.groups = list(groups or [])

    # -- building --------------------------------------------------------------------
    @classmethod
    def fit(cls, Y: Mapping[str, np.ndarray], units: Mapping[str, str] | None = None,
            pca: float | int | None = None, *, pca_scalars: float | int | None = None,
            scalar_groups: Mapping[str, Sequence[str]] | None = None) -> OutputTransform:
        """Learn the transform from training outputs ``{name: (n,) or (n, T)}``.

        ``pca``: ``None`` keeps every column; a float in (0, 1) keeps the components that
        explain that fraction of a waveform's variance; an int keeps that many.
        ``pca_scalars``: reduce scalar outputs together in the same way (fraction of the
        standardised scalars' variance, or a count); ``scalar_groups`` names the groups
        (``{group: [output, ...]}``, at least two scalars each); without it, every scalar
        output forms one group ``"scalars"``.
        """
        units = dict(units or {})
        groups = _group_spec(Y, pca_scalars, scalar_groups)
        const = [m for ms in groups.values() for m in ms if np.ptp(np.asarray(Y[m])) == 0]
        if const:  # nothing to share: left to the model's own handling of constants
            warnings.warn(f"outputs {const} are constant over the training runs: they are "
                          f"left out of the PCA of scalar outputs", UserWarning, stacklevel=4)
            groups = {g: [m for m in ms if m not in const] for g, ms in groups.items()}
            groups = {g: ms for g, ms in groups.items() if len(ms) >= 2}
        grouped = {m: g for g, members in groups.items() for m in members}
        blocks: list[OutputBlock] = []
        latent: list[np.ndarray] = []
        for name, y in Y.items():
            y = np.asarray(y, float)
            n = y.shape[0]
            shape = tuple(y.shape[1:])
            block = OutputBlock(name, units.get(name, ""), shape, group=grouped.get(name))
            y2 = y.reshape(n, -1)
            if block.group is not None:
                pass  # reduced with its group below
            elif pca is not None and shape:
                center = y2.mean(axis=0)
                _, s, vt = np.linalg.svd(y2 - center, full_matrices=False)
                k = _n_components(s, pca, "pca")
                block.basis, block.center = vt[:k], center
                z = (y2 - center) @ vt[:k].T
                block.residual_var = np.mean((y2 - center - z @ vt[:k]) ** 2, axis=0)
                latent.append(z)
            else:
                latent.append(y2)
            blocks.append(block)
        made = []
        for gname, members in groups.items():
            Yg = np.stack([np.asarray(Y[m], float).reshape(-1) for m in members], axis=1)
            center = Yg.mean(axis=0)
            scale = Yg.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
            S = (Yg - center) / scale  # standardised members (n, g)
            _, sv, vt = np.linalg.svd(S, full_matrices=False)
            k = _n_components(sv, pca_scalars, "pca_scalars")
            z = S @ vt[:k].T
            resid = scale**2 * np.mean((S - z @ vt[:k]) ** 2, axis=0)
            made.append(OutputGroup(gname, list(members), vt[:k], center, scale, resid))
            latent.append(z)
        Z = np.concatenate(latent, axis=1)
        y_mean = Z.mean(axis=0)
        y_std = Z.std(axis=0)
        y_std = np.where(y_std > 0, y_std, 1.0)  # a constant output is learnt as such
        return cls(blocks, y_mean, y_std, made)

    # -- maps ------------------------------------------------------------------------
    @property
    def n_latent(self) -> int:
        return int(self.y_mean.shape[0])

    @property
    def n_columns(self) -> int:
        return sum(b.width for b in self.blocks)

    @property
    def column_names(self) -> list[str]:
        names = []
        for b in self.blocks:
            names += [b.name] if not b.shape else [f"{b.name}[{i}]" for i in range(b.width)]
        return names

    def forward(self, Y: Mapping[str, np.ndarray]) -> np.ndarray:
        """Physical outputs → standardised latent columns ``(n, m)``."""
        parts = []
        for b in self.blocks:
            if b.group is not None:
                continue
            y = np.asarray(Y[b.name], float).reshape(len(Y[b.name]), -1)
            parts.append((y - b.center) @ b.basis.T if b.basis is not None else y)
        for g in self.groups:
            parts.append(g.reduce(np.stack([np.asarray(Y[m], float).reshape(-1)
                                            for m in g.members], axis=1)))
        return (np.concatenate(parts, axis=1) - self.y_mean) / self.y_std

    def inverse(self, z_mean: np.ndarray, z_var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance ``(n, m)`` → physical mean and variance ``(n, columns)``."""
        z_mean = z_mean * self.y_std + self.y_mean
        z_var = z_var * self.y_std**2
        means, variances, j = [], [], 0
        for b in self.blocks:
            k = b.latent_width
            zm, zv = z_mean[:, j:j + k], z_var[:, j:j + k]
            if b.group is not None:  # filled in from its group below
                means.append(np.empty((len(z_mean), 1)))
                variances.append(np.empty((len(z_mean), 1)))
            elif b.basis is not None:
                means.append(zm @ b.basis + b.center)
                variances.append(zv @ (b.basis**2) + b.residual_var)
            else:
                means.append(zm)
                variances.append(zv)
            j += k
        if self.groups:
            at = {b.name: i for i, b in enumerate(self.blocks)}
            for g in self.groups:
                k = g.latent_width
                zm, zv = z_mean[:, j:j + k], z_var[:, j:j + k]
                ym = (zm @ g.basis) * g.scale + g.center
                yv = (zv @ g.basis**2) * g.scale**2 + g.residual_var
                for i, name in enumerate(g.members):
                    means[at[name]][:, 0], variances[at[name]][:, 0] = ym[:, i], yv[:, i]
                j += k
        return np.concatenate(means, axis=1), np.concatenate(variances, axis=1)

    def latent_owners(self) -> list[tuple[str, int, str]]:
        """One ``(owner, index, kind)`` per latent column, in latent order: ``kind`` is
        ``"scalar"`` (an ungrouped scalar), ``"column"`` (a column of a raw waveform) or
        ``"pc"`` (component ``index`` of a PCA waveform or of a scalar group ``owner``)."""
        out: list[tuple[str, int, str]] = []
        for b in self.blocks:
            if b.group is not None:
                continue
            kind = "pc" if b.basis is not None else ("column" if b.shape else "scalar")
            out += [(b.name, i, kind) for i in range(b.latent_width)]
        for g in self.groups:
            out += [(g.name, i, "pc") for i in range(g.latent_width)]
        return out

    def column_map(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """How block ``name``'s physical columns depend on the standardised latent columns:
        ``(cols (k,), A (k, width))`` with ``y = z[:, cols] @ A + const``, so its predictive
        covariance across outputs of independent latent columns is ``Aᵀ diag(var z) A`` plus
        the truncation variance."""
        j = 0
        for b in self.blocks:
            k = b.latent_width
            if b.name == name and b.group is None:
                cols = np.arange(j, j + k)
                A = b.basis if b.basis is not None else np.eye(k)
                return cols, A * self.y_std[cols][:, None]
            j += k
        for g in self.groups:
            k = g.latent_width
            if name in g.members:
                cols = np.arange(j, j + k)
                i = g.members.index(name)
                return cols, (g.basis[:, i] * g.scale[i] * self.y_std[cols])[:, None]
            j += k
        raise KeyError(name)

    def covariance(self, z_var: np.ndarray) -> np.ndarray:
        """Predictive covariance across all physical columns ``(q, C, C)`` from latent
        variances ``(q, m)`` (independent latent columns): ``A diag(var z) Aᵀ`` plus the
        truncation variance on the diagonal; ``A (C, m)`` is the latent-to-column map."""
        z_var = np.asarray(z_var, float)
        m, C = self.n_latent, self.n_columns
        A = np.zeros((C, m))
        resid = np.zeros(C)
        col = 0
        for b in self.blocks:
            cols, Ab = self.column_map(b.name)
            A[col:col + b.width, cols] = Ab.T
            if b.group is not None:
                g = next(g for g in self.groups if g.name == b.group)
                resid[col] = g.residual_var[g.members.index(b.name)]
            elif b.residual_var is not None:
                resid[col:col + b.width] = b.residual_var
            col += b.width
        cov = np.einsum("cm,qm,dm->qcd", A, z_var, A)
        cov[:, np.arange(C), np.arange(C)] += resid
        return cov

    def split(self, Y: np.ndarray) -> dict[str, np.ndarray]:
        """Columns ``(n, columns)`` → ``{name: (n,) or (n, T)}``."""
        out, j = {}, 0
        for b in self.blocks:
            out[b.name] = Y[:, j] if not b.shape else Y[:, j:j + b.width].reshape(-1, *b.shape)
            j += b.width
        return out

    # -- storage ---------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"outputs.y_mean": self.y_mean, "outputs.y_std": self.y_std}
        for b in self.blocks:
            if b.basis is not None:
                arrays[f"outputs.{b.name}.basis"] = b.basis
                arrays[f"outputs.{b.name}.center"] = b.center
                arrays[f"outputs.{b.name}.residual_var"] = b.residual_var
        for g in self.groups:
            for key in ("basis", "center", "scale", "residual_var"):
                arrays[f"outputs.group.{g.name}.{key}"] = getattr(g, key)
        return arrays

    def card(self) -> list[dict[str, Any]]:
        return [b.card() for b in self.blocks]

    @classmethod
    def from_arrays(cls, card: Any, arrays: Mapping[str, np.ndarray]) -> OutputTransform:
        """Rebuild from an emulator file, checking every array against the card (shapes,
        signs, sizes): a malformed file raises :class:`EmulatorFileError`."""
        from emulators.errors import EmulatorFileError
        from emulators.runtime.predictor import require

        if not isinstance(card, list) or not card:
            raise EmulatorFileError("the card's 'outputs' must be a non-empty list")
        blocks, latent = [], 0
        members: dict[str, list[str]] = {}
        for c in card:
            if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
                raise EmulatorFileError("each card output needs a 'name'")
            shape = c.get("shape", [])
            if (not isinstance(shape, list) or len(shape) > 2
                    or not all(isinstance(s, int) and 1 <= s <= MAX_WIDTH for s in shape)):
                raise EmulatorFileError(f"output {c['name']!r}: 'shape' must be [] or up to "
                                        f"two sizes in [1, {MAX_WIDTH}]")
            b = OutputBlock(c["name"], str(c.get("unit", "")), tuple(shape))
            if b.width > MAX_WIDTH:
                raise EmulatorFileError(f"output {b.name!r} declares {b.width} columns, more "
                                        f"than {MAX_WIDTH}")
            if c.get("transform") == "pca":
                key = f"outputs.{b.name}."
                b.basis = require(arrays, key + "basis", (None, b.width))
                b.center = require(arrays, key + "center", (b.width,))
                b.residual_var = require(arrays, key + "residual_var", (b.width,),
                                         nonnegative=True)
            elif c.get("transform") == "pca_group":
                if shape or not isinstance(c.get("group"), str) or not c["group"]:
                    raise EmulatorFileError(f"output {b.name!r}: a 'pca_group' output must be "
                                            f"a scalar naming its 'group'")
                b.group = c["group"]
                members.setdefault(b.group, []).append(b.name)
            elif c.get("transform", "identity") != "identity":
                raise EmulatorFileError(f"output {b.name!r}: unknown transform")
            latent += b.latent_width
            blocks.append(b)
        groups = []
        for gname, names in members.items():
            key, g = f"outputs.group.{gname}.", len(names)
            basis = require(arrays, key + "basis", (None, g))
            groups.append(OutputGroup(
                gname, names, basis, require(arrays, key + "center", (g,)),
                require(arrays, key + "scale", (g,), positive=True),
                require(arrays, key + "residual_var", (g,), nonnegative=True)))
            latent += basis.shape[0]
        y_mean = require(arrays, "outputs.y_mean", (latent,))
        y_std = require(arrays, "outputs.y_std", (latent,), positive=True)
        return cls(blocks, y_mean, y_std, groups)


def _n_components(s: np.ndarray, pca: float | int | None, what: str) -> int:
    """Components to keep from singular values ``s``: a variance fraction or a count."""
    if isinstance(pca, float | np.floating) and 0 < pca < 1:
        frac = np.cumsum(s**2) / max(np.sum(s**2), np.finfo(float).tiny)
        k = int(np.searchsorted(frac, pca) + 1)
    elif isinstance(pca, int | np.integer) and not isinstance(pca, bool) and pca >= 1:
        k = int(pca)
    else:
        raise ValueError(f"{what} must be a fraction in (0, 1) or a count >= 1, got {pca!r}")
    return min(k, len(s))


def _group_spec(Y: Mapping[str, np.ndarray], pca_scalars: float | int | None,
                scalar_groups: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """The checked ``{group: members}`` of scalar outputs to reduce together."""
    if pca_scalars is None:
        if scalar_groups:
            raise ValueError("scalar_groups needs pca_scalars (the variance fraction or "
                             "component count kept in each group)")
        return {}
    _n_components(np.ones(1), pca_scalars, "pca_scalars")  # checks the value
    scalars = [k for k, v in Y.items() if np.ndim(v) == 1]
    if scalar_groups is None:
        if len(scalars) < 2:
            warnings.warn(f"pca_scalars has no effect: {len(scalars)} scalar output(s), a "
                          f"group needs at least two", UserWarning, stacklevel=4)
            return {}
        return {"scalars" if "scalars" not in Y else "scalars_pca": scalars}
    if not isinstance(scalar_groups, Mapping) or not scalar_groups:
        raise ValueError("scalar_groups must map group names to lists of scalar outputs, "
                         "e.g. {'pressures': ['p_sys', 'p_dia']}")
    seen: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for gname, members in scalar_groups.items():
        if not isinstance(gname, str) or not gname or gname in Y:
            raise ValueError(f"scalar group name {gname!r} must be a non-empty text unlike "
                             f"every output name")
        if isinstance(members, str) or len(list(members)) < 2:
            raise ValueError(f"scalar group {gname!r} needs a list of at least two scalar "
                             f"outputs, got {members!r}")
        for m in members:
            if m not in Y:
                raise ValueError(f"scalar group {gname!r}: {m!r} is not an output; outputs "
                                 f"are {sorted(Y)}")
            if m not in scalars:
                raise ValueError(f"scalar group {gname!r}: {m!r} is a waveform; reduce "
                                 f"waveforms with pca, group scalars only")
            if m in seen:
                raise ValueError(f"output {m!r} is in scalar groups {seen[m]!r} and "
                                 f"{gname!r}; put it in one")
            seen[m] = gname
        out[gname] = [str(m) for m in members]
    # members in output order, groups by first member: the order a file is read back in
    order = {k: i for i, k in enumerate(Y)}
    return {g: sorted(ms, key=order.__getitem__)
            for g, ms in sorted(out.items(), key=lambda kv: min(order[m] for m in kv[1]))}
