"""The twin-side runtime: load an emulator file and predict, with numpy alone.

This module and everything it imports use numpy, the standard library and the
safetensors file reader only — never torch, gpytorch, scipy or pickle — so that a twin
runtime can ``pip install twinemu`` without the training extras.

An emulator file is one ``.safetensors`` file: arrays only, plus a JSON *card* in the
metadata (format version, kind, inputs with bounds, outputs with units and transforms,
training-data hash, validation metrics, versions, config, intended use).  Loading checks
the file's SHA-256 digest over arrays and card, refuses unknown major versions, and every
``predict`` call refuses inputs outside the domain (``OutOfDomainError``).

Examples
--------
>>> from emulators import runtime
>>> emu = runtime.load("outputs/.../emulator.safetensors")
>>> mean, var = emu.predict([[1.0e8, 1.4e-8, 6e6, 75.0, 70.0]])
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from emulators.errors import EmulatorFileError, EmulatorVersionError, OldVersionWarning
from emulators.outputs import OutputTransform
from simulators.design import ParameterSpace

FORMAT = "twinemu-emulator"
FORMAT_VERSION = "1.0"
_CARD_KEY = "twinemu.card"
_DIGEST_KEY = "twinemu.sha256"


# -- file I/O ------------------------------------------------------------------------------
def digest(arrays: Mapping[str, np.ndarray], card_json: str) -> str:
    """SHA-256 over every array (name, dtype, shape, bytes, in name order) and the card."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    h.update(card_json.encode())
    return h.hexdigest()


def write_file(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
               card: Mapping[str, Any]) -> str:
    """Write an emulator file; return its digest.  Arrays must be float64 numpy arrays."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}
    card = {"format": FORMAT, "format_version": FORMAT_VERSION, **dict(card)}
    card_json = json.dumps(card, sort_keys=True, default=json_default)
    sha = digest(arrays, card_json)
    tmp = f"{os.fspath(path)}.tmp"
    save_file(arrays, tmp, metadata={_CARD_KEY: card_json, _DIGEST_KEY: sha})
    os.replace(tmp, path)  # never leave a half-written emulator under the real name
    return sha


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays as Python values, the rest as str."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def read_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an emulator file; return ``(card, arrays)``."""
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EmulatorFileError(f"no emulator file at {path!r}")
    try:
        with safe_open(path, framework="np") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise EmulatorFileError(
            f"{path!r} is not a readable emulator file (a .safetensors file written by "
            f"twinemu export): {exc}"
        ) from exc
    if _CARD_KEY not in meta:
        raise EmulatorFileError(f"{path!r} is a safetensors file without a twinemu card")
    card_json = meta[_CARD_KEY]
    if digest(arrays, card_json) != meta.get(_DIGEST_KEY):
        raise EmulatorFileError(
            f"{path!r} failed its integrity check (SHA-256 of arrays and card differs from "
            f"the one stored): the file was modified or damaged. Export it again."
        )
    card = json.loads(card_json)
    if card.get("format") != FORMAT:
        raise EmulatorFileError(f"{path!r} has format {card.get('format')!r}, not {FORMAT!r}")
    major, minor = (int(v) for v in str(card.get("format_version", "0.0")).split(".")[:2])
    cur_major, cur_minor = (int(v) for v in FORMAT_VERSION.split("."))
    if major != cur_major:
        raise EmulatorVersionError(
            f"{path!r} uses emulator format {card['format_version']}; this runtime reads "
            f"{cur_major}.x. Install a twinemu release that reads it, or re-export."
        )
    if minor < cur_minor:
        warnings.warn(f"{path!r}: emulator format {card['format_version']} migrated to "
                      f"{FORMAT_VERSION} on load", OldVersionWarning, stacklevel=3)
    return card, arrays


# -- kernels (Rasmussen & Williams 2006, eq. 4.9, 4.17) ------------------------------------
def kernel_matrix(kind: str, U1: np.ndarray, U2: np.ndarray, lengthscale: np.ndarray,
                  outputscale: np.ndarray) -> np.ndarray:
    """Covariances ``(m, n1, n2)`` between unit-cube points for ``m`` outputs."""
    # r² = |a|² + |b|² − 2 a·b on lengthscale-scaled inputs: one matmul per output.
    A = U1[None, :, :] / lengthscale[:, None, :]
    B = U2[None, :, :] / lengthscale[:, None, :]
    r2 = (np.einsum("mid,mid->mi", A, A)[:, :, None] + np.einsum("mjd,mjd->mj", B, B)[:, None, :]
          - 2.0 * np.matmul(A, np.swapaxes(B, 1, 2)))
    r2 = np.maximum(r2, 0.0)
    if kind == "rbf":
        k = np.exp(-0.5 * r2)
    else:
        r = np.sqrt(np.maximum(r2, 0.0))
        if kind == "matern52":  # (1 + √5 r + 5r²/3) exp(-√5 r)
            k = (1.0 + math.sqrt(5) * r + 5.0 / 3.0 * r2) * np.exp(-math.sqrt(5) * r)
        elif kind == "matern32":  # (1 + √3 r) exp(-√3 r)
            k = (1.0 + math.sqrt(3) * r) * np.exp(-math.sqrt(3) * r)
        else:
            raise EmulatorFileError(f"unknown kernel {kind!r} in emulator file")
    return outputscale[:, None, None] * k


class GPPredictor:
    """Exact GP posterior from exported arrays: ``μ = c + k*ᵀα``, ``σ² = k** + σn² − |L⁻¹k*|²``.

    (Rasmussen & Williams 2006, Algorithm 2.1, with ``L⁻¹`` stored.)
    """

    def __init__(self, card: Mapping[str, Any], arrays: Mapping[str, np.ndarray]):
        self.kernel = card["model"]["kernel"]
        self.U = arrays["gp.train_u"]
        self.lengthscale = arrays["gp.lengthscale"]
        self.outputscale = arrays["gp.outputscale"]
        self.noise = arrays["gp.noise"]
        self.const = arrays["gp.mean"]
        self.alpha = arrays["gp.alpha"]
        self.L_inv = arrays["gp.L_inv"]

    def __call__(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Ks = kernel_matrix(self.kernel, self.U, U, self.lengthscale, self.outputscale)
        mean = self.const[:, None] + np.einsum("mn,mnq->mq", self.alpha, Ks)
        v = np.matmul(self.L_inv, Ks)
        var = self.outputscale[:, None] + self.noise[:, None] - np.einsum("mnq,mnq->mq", v, v)
        return mean.T, np.maximum(var, 0.0).T


_PREDICTORS = {"gp": GPPredictor}


class RuntimeEmulator:
    """A loaded emulator: ``predict`` maps physical inputs to physical outputs.

    Attributes
    ----------
    card : dict
        Everything the file says about itself.
    space : ParameterSpace
        The domain of validity; inputs outside raise ``OutOfDomainError``.
    input_names, output_names : list of str
    """

    def __init__(self, card: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.card = card
        self.space = ParameterSpace.from_dict({"parameters": card["inputs"]})
        self.outputs = OutputTransform.from_arrays(card["outputs"], arrays)
        kind = card.get("kind")
        if kind not in _PREDICTORS:
            raise EmulatorFileError(f"unknown emulator kind {kind!r}; known: {list(_PREDICTORS)}")
        self._predictor = _PREDICTORS[kind](card, arrays)
        self._squeeze = bool(card.get("squeeze_output", False))

    @property
    def input_names(self) -> list[str]:
        return self.space.names

    @property
    def output_names(self) -> list[str]:
        return [b.name for b in self.outputs.blocks]

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance at ``X`` (``(n, d)`` or a ``{name: values}`` mapping).

        Returns arrays ``(n, columns)`` — or ``(n,)`` for an emulator fitted on a single
        1-D output — in the outputs' physical units (variance in unit²).
        """
        X = self.space.check(X)
        z_mean, z_var = self._predictor(self.space.to_unit(X))
        mean, var = self.outputs.inverse(z_mean, z_var)
        if self._squeeze:
            return mean[:, 0], var[:, 0]
        return mean, var

    def training_mask(self, X: Any, atol: float = 1e-9) -> np.ndarray:
        """Which rows of ``X`` are training points of this emulator (within ``atol`` in the
        unit cube); a check on them would measure interpolation, not prediction."""
        U = self.space.to_unit(self.space.as_array(X))
        train = getattr(self._predictor, "U", None)
        if train is None:
            return np.zeros(len(U), bool)
        d = np.abs(U[:, None, :] - train[None, :, :]).max(axis=2)
        return (d <= atol).any(axis=1)

    def predict_dict(self, X: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{output name: (mean, variance)}`` with waveforms as ``(n, T)``."""
        X = self.space.check(X)
        mean, var = self.outputs.inverse(*self._predictor(self.space.to_unit(X)))
        m, v = self.outputs.split(mean), self.outputs.split(var)
        return {name: (m[name], v[name]) for name in m}

    def __repr__(self) -> str:
        return (f"<twinemu {self.card.get('kind')} emulator: inputs {self.input_names} -> "
                f"outputs {self.output_names}>")


def load(path: str | os.PathLike) -> RuntimeEmulator:
    """Load and verify an emulator file (see the module docstring)."""
    card, arrays = read_file(path)
    try:
        return RuntimeEmulator(card, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, EmulatorFileError):
            raise
        raise EmulatorFileError(f"{os.fspath(path)!r} has an incomplete card or arrays: {exc}"
                                ) from exc
