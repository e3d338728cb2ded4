"""The emulator contract: ``fit``, ``predict``, ``sample``, ``export``.

Base methods validate arguments once and handle scaling; subclasses fill in the hooks
``_fit(U, Z)``, ``_predict(U) -> (z_mean, z_var)``, ``_sample(U, n, rng)`` and
``_export_arrays()`` on unit-cube inputs and standardised latent outputs (STYLE §12).
Validation, sensitivity and export are written once against this contract.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emulators.errors import NotFittedError
from emulators.outputs import OutputTransform
from simulators.design import Parameter, ParameterSpace


class Emulator(ABC):
    """Base class of every twinemu emulator."""

    kind: str = "base"

    def __init__(self) -> None:
        self.space: ParameterSpace | None = None
        self.outputs: OutputTransform | None = None
        self._squeeze = False
        self._space_inferred = False
        self.training_hash = ""
        self.metadata: dict[str, Any] = {}

    # -- public contract ----------------------------------------------------------------
    def fit(
        self,
        X: Any,
        Y: Any = None,
        *,
        space: ParameterSpace | None = None,
        outputs: str | Sequence[str] | None = None,
        units: Mapping[str, str] | None = None,
        fidelity: str | None = None,
        run_prefix: str | None = None,
    ) -> Emulator:
        """Fit on arrays in physical units, or on a campaign archive.

        Parameters
        ----------
        X : ndarray (n, d), Archive or TrainingSet
            Training inputs; or an open :class:`datasets.Archive` (then ``Y`` is ``None``
            and ``outputs`` names the outputs to learn; ``space`` comes from the archive);
            or a :class:`datasets.levels.TrainingSet`, whose highest level a
            single-fidelity emulator learns (a multi-fidelity one uses every level).
        Y : ndarray (n,) or (n, m), or mapping {name: (n,) or (n, T)}
            Training outputs.  A mapping names the outputs and may mix scalars and
            waveforms.
        space : ParameterSpace, optional
            Domain of validity and input scaling.  Without it, the bounding box of ``X`` is
            used (and the card says so).
        """
        self.levels_card = []
        if hasattr(X, "levels") and hasattr(X, "top"):  # a TrainingSet
            X, Y, space, units = self._from_training_set(X, outputs, space)
        elif hasattr(X, "arrays") and hasattr(X, "space"):  # a campaign archive
            X, Y, space, units = self._from_archive(X, outputs, fidelity, space, run_prefix)
        if Y is None:
            raise ValueError("fit needs Y (training outputs) unless X is a campaign archive")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
        Ymap, self._squeeze = _as_output_map(Y, len(X))
        if not np.all(np.isfinite(X)):
            raise ValueError("X holds NaN or infinite values; drop those runs before fitting")
        for name, y in Ymap.items():
            if not np.all(np.isfinite(y)):
                raise ValueError(f"output {name!r} holds NaN or infinite values; drop failed "
                                 f"runs before fitting (Archive.arrays does this)")
        if len(X) < 2:
            raise ValueError(f"need at least 2 training points, got {len(X)}")
        if space is None:
            space = _bounding_space(X)
            self._space_inferred = True
        self.space = space
        X = space.check(X)
        self.outputs = self._make_output_transform(Ymap, units)
        self.training_hash = _hash_arrays(X, *Ymap.values())
        self._fit(space.to_unit(X), self.outputs.forward(Ymap))
        return self

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and variance in physical units, shape matching the training Y.

        Raises ``OutOfDomainError`` for a point outside the domain.
        """
        z_mean, z_var = self._latent(X)
        mean, var = self.outputs.inverse(z_mean, z_var)
        return (mean[:, 0], var[:, 0]) if self._squeeze else (mean, var)

    def predict_dict(self, X: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{output name: (mean, variance)}``, waveforms as ``(n, T)``."""
        z_mean, z_var = self._latent(X)
        mean, var = self.outputs.inverse(z_mean, z_var)
        m, v = self.outputs.split(mean), self.outputs.split(var)
        return {k: (m[k], v[k]) for k in m}

    def predict_covariance(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``(q, C)`` and predictive covariance across the physical columns
        ``(q, C, C)`` at each point (outputs reduced together by PCA are correlated)."""
        z_mean, z_var = self._latent(X)
        return self.outputs.inverse(z_mean, z_var)[0], self.outputs.covariance(z_var)

    def sample(self, X: Any, n: int, *, seed: int | np.random.Generator | None = None
               ) -> np.ndarray:
        """``n`` joint posterior draws at ``X``: shape ``(n, len(X), ...)`` like ``predict``."""
        self._check_fitted()
        U = self.space.to_unit(self.space.check(X))
        Z = self._sample(U, int(n), np.random.default_rng(seed))  # (n, q, m) latent
        out = []
        zeros = np.zeros_like(Z[0])
        for s in range(Z.shape[0]):
            mean, _ = self.outputs.inverse(Z[s], zeros)
            out.append(mean)
        draws = np.stack(out)
        # Linear maps carry the draws exactly; PCA truncation noise is not re-added.
        return draws[..., 0] if self._squeeze else draws

    def export(self, path: str | os.PathLike, *, validation: Mapping[str, Any] | None = None,
               config: Mapping[str, Any] | None = None, intended_use: str = "") -> Path:
        """Write the emulator file (see :mod:`emulators.runtime`); return its path."""
        from emulators import runtime

        self._check_fitted()
        if self._space_inferred:
            warnings.warn("exporting an emulator whose domain is the bounding box of its "
                          "training inputs (no ParameterSpace was given to fit)",
                          UserWarning, stacklevel=2)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {**self._export_arrays(), **self.outputs.to_arrays()}
        card = {
            "kind": self.kind,
            "model": self._card_model(),
            "inputs": self.space.to_dict()["parameters"],
            "domain_source": "training bounding box" if self._space_inferred else "parameter space",
            "outputs": self.outputs.card(),
            "squeeze_output": self._squeeze,
            "training_data_sha256": self.training_hash,
            "levels": self._card_levels(),
            "validation": dict(validation or {}),
            "config": dict(config or {}),
            "intended_use": intended_use or (
                "Research use: predictions inside the stated input bounds only; check the "
                "validation metrics before clinical or decision use."),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
            "git_sha": _git_sha(),
            **({"metadata": self.metadata} if self.metadata else {}),
        }
        runtime.write_file(path, arrays, card)
        return path

    def _latent(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance at physical ``X``, in chunks of bounded memory."""
        from emulators.runtime.predictor import predict_chunked

        self._check_fitted()
        U = self.space.to_unit(self.space.check(X))
        predictor = getattr(self, "_predictor", None)
        per_point = predictor.bytes_per_point() if predictor is not None else 1 << 12
        return predict_chunked(self._predict, U, per_point)

    # -- hooks ------------------------------------------------------------------------------
    def _make_output_transform(self, Y: Mapping[str, np.ndarray],
                               units: Mapping[str, str] | None) -> OutputTransform:
        return OutputTransform.fit(Y, units)

    @abstractmethod
    def _fit(self, U: np.ndarray, Z: np.ndarray) -> None: ...

    @abstractmethod
    def _predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray: ...

    @abstractmethod
    def _export_arrays(self) -> dict[str, np.ndarray]: ...

    def _card_model(self) -> dict[str, Any]:
        return {}

    def _card_levels(self) -> list[dict[str, Any]]:
        """Fidelity levels trained on: ``[{"fidelity", "n", "sha256"}, ...]``, lowest first."""
        return getattr(self, "levels_card", [])

    # -- helpers ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.outputs is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _from_training_set(self, ts: Any, outputs: Any, space: ParameterSpace | None):
        if len(ts.levels) > 1:
            warnings.warn(f"{type(self).__name__} learns the highest fidelity level "
                          f"({ts.top.fidelity!r}) only; the {len(ts.levels) - 1} lower "
                          f"level(s) are ignored (use MultiFidelityGP to combine them)",
                          UserWarning, stacklevel=3)
        names = ts.output_names if outputs is None else (
            [outputs] if isinstance(outputs, str) else list(outputs))
        self.levels_card = ts.card()[-1:]
        Y = {n: ts.top.Y[n] for n in names}
        return ts.top.X, Y, space or ts.space, {n: ts.units.get(n, "") for n in names}

    @staticmethod
    def _from_archive(archive: Any, outputs: Any, fidelity: str | None,
                      space: ParameterSpace | None, run_prefix: str | None):
        if outputs is None:
            outputs = [s.name for s in archive.outputs if not s.is_waveform]
        names = [outputs] if isinstance(outputs, str) else list(outputs)
        m = archive.mask(fidelity=fidelity, run_prefix=run_prefix)
        X, Y, dropped = archive.select(names, m)
        if dropped:
            warnings.warn(f"{dropped} of {len(X) + dropped} runs have NaN in one of "
                          f"{names} and are left out of the fit", UserWarning, stacklevel=3)
        units = {n: archive.output_spec(n).unit for n in names}
        if isinstance(outputs, str):
            Y = Y[outputs]
        return X, Y, space or archive.space, units


def _as_output_map(Y: Any, n: int) -> tuple[dict[str, np.ndarray], bool]:
    if isinstance(Y, Mapping):
        Ymap = {str(k): np.asarray(v, dtype=float) for k, v in Y.items()}
        squeeze = False
    else:
        Yarr = np.asarray(Y, dtype=float)
        if Yarr.ndim == 1:
            Ymap, squeeze = {"y": Yarr}, True
        elif Yarr.ndim == 2:
            Ymap = {f"y{j}": Yarr[:, j] for j in range(Yarr.shape[1])}
            squeeze = False
        else:
            raise ValueError(f"Y must be (n,) or (n, m), got shape {Yarr.shape}; pass a "
                             f"mapping {{name: (n, T)}} for waveforms")
    for name, y in Ymap.items():
        if y.shape[0] != n:
            raise ValueError(f"output {name!r} has {y.shape[0]} rows but X has {n}")
        if y.ndim > 2:
            raise ValueError(f"output {name!r} must be (n,) or (n, T), got {y.shape}")
    return Ymap, squeeze


def _bounding_space(X: np.ndarray) -> ParameterSpace:
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(lo), 1.0))
    return ParameterSpace([Parameter(f"x{j}", lo[j], lo[j] + span[j]) for j in range(X.shape[1])])


def _hash_arrays(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=float).tobytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("twinemu", "numpy", "torch", "gpytorch", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _git_sha() -> str:
    """HEAD of the checkout twinemu runs from, with ``-dirty`` if its files were modified."""
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=here, timeout=5)
        if res.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=here, timeout=5)
        return res.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""
