"""Output transforms between physical outputs and the latent outputs a model learns.

numpy only: the twin-side runtime uses the same code to map predictions back.

An emulator's outputs are *blocks*: a scalar (one column) or a waveform on the phase grid
(``T`` columns).  A waveform block may be reduced to its first ``k`` principal components
(PCA by SVD of the centred training waveforms), keeping enough components to explain a
fraction ``pca`` of the variance.  Every latent column is then standardised to zero mean,
unit variance.  Predictive variances map back exactly for the linear maps used here:
``var(y_t) = Σ_i B_it² var(z_i) + r_t`` with ``B`` the basis and ``r_t`` the mean squared
truncation residual of the training waveforms (so truncation error is not hidden).
"""

from __future__ import annotations

from collections.abc import Mapping
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

    @property
    def width(self) -> int:
        """Number of physical columns."""
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def latent_width(self) -> int:
        return self.basis.shape[0] if self.basis is not None else self.width

    def card(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "shape": list(self.shape),
                "transform": "pca" if self.basis is not None else "identity",
                "latent": self.latent_width}


class OutputTransform:
    """Blocks, their PCA bases and the standardisation of the latent columns."""

    def __init__(self, blocks: list[OutputBlock], y_mean: np.ndarray, y_std: np.ndarray):
        self.blocks = blocks
        self.y_mean = np.asarray(y_mean, float)
        self.y_std = np.asarray(y_std, float)

    # -- building --------------------------------------------------------------------
    @classmethod
    def fit(cls, Y: Mapping[str, np.ndarray], units: Mapping[str, str] | None = None,
            pca: float | int | None = None) -> OutputTransform:
        """Learn the transform from training outputs ``{name: (n,) or (n, T)}``.

        ``pca``: ``None`` keeps every column; a float in (0, 1) keeps the components that
        explain that fraction of a waveform's variance; an int keeps that many.
        """
        units = dict(units or {})
        blocks: list[OutputBlock] = []
        latent: list[np.ndarray] = []
        for name, y in Y.items():
            y = np.asarray(y, float)
            n = y.shape[0]
            shape = tuple(y.shape[1:])
            block = OutputBlock(name, units.get(name, ""), shape)
            y2 = y.reshape(n, -1)
            if pca is not None and shape:
                center = y2.mean(axis=0)
                _, s, vt = np.linalg.svd(y2 - center, full_matrices=False)
                if isinstance(pca, float | np.floating) and 0 < pca < 1:
                    frac = np.cumsum(s**2) / max(np.sum(s**2), np.finfo(float).tiny)
                    k = int(np.searchsorted(frac, pca) + 1)
                elif isinstance(pca, int | np.integer) and pca >= 1:
                    k = int(pca)
                else:
                    raise ValueError(
                        f"pca must be a fraction in (0, 1) or a count >= 1, got {pca!r}")
                k = min(k, len(s))
                block.basis, block.center = vt[:k], center
                z = (y2 - center) @ vt[:k].T
                block.residual_var = np.mean((y2 - center - z @ vt[:k]) ** 2, axis=0)
                latent.append(z)
            else:
                latent.append(y2)
            blocks.append(block)
        Z = np.concatenate(latent, axis=1)
        y_mean = Z.mean(axis=0)
        y_std = Z.std(axis=0)
        y_std = np.where(y_std > 0, y_std, 1.0)  # a constant output is learnt as such
        return cls(blocks, y_mean, y_std)

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
            y = np.asarray(Y[b.name], float).reshape(len(Y[b.name]), -1)
            parts.append((y - b.center) @ b.basis.T if b.basis is not None else y)
        return (np.concatenate(parts, axis=1) - self.y_mean) / self.y_std

    def inverse(self, z_mean: np.ndarray, z_var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance ``(n, m)`` → physical mean and variance ``(n, columns)``."""
        z_mean = z_mean * self.y_std + self.y_mean
        z_var = z_var * self.y_std**2
        means, variances, j = [], [], 0
        for b in self.blocks:
            k = b.latent_width
            zm, zv = z_mean[:, j:j + k], z_var[:, j:j + k]
            if b.basis is not None:
                means.append(zm @ b.basis + b.center)
                variances.append(zv @ (b.basis**2) + b.residual_var)
            else:
                means.append(zm)
                variances.append(zv)
            j += k
        return np.concatenate(means, axis=1), np.concatenate(variances, axis=1)

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
            elif c.get("transform", "identity") != "identity":
                raise EmulatorFileError(f"output {b.name!r}: unknown transform")
            latent += b.latent_width
            blocks.append(b)
        y_mean = require(arrays, "outputs.y_mean", (latent,))
        y_std = require(arrays, "outputs.y_std", (latent,), positive=True)
        return cls(blocks, y_mean, y_std)
