"""The ``Predictor`` protocol: one class per emulator kind, built from the file's arrays.

A predictor maps unit-cube inputs ``U (q, d)`` to the latent (standardised) outputs'
mean and variance ``(q, m)``.  It is built from ``(card, arrays, prefix)`` — the prefix
selects its arrays, so one file can hold several blocks (a multi-fidelity GP keeps one GP
per level) — and it checks every array it uses against the card (shape, sign), so a
malformed file is an :class:`~emulators.errors.EmulatorFileError`, never a wrong answer or
an allocation bomb.  Training classes import their predictor from here: the in-memory
emulator and the exported file run the same arithmetic.

numpy and the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from emulators.errors import EmulatorFileError

#: Working memory one ``predict`` call may use for its temporaries; larger batches are cut
#: into chunks (1e6 query points then cost time, not gigabytes).
CHUNK_BYTES = 64 << 20


@runtime_checkable
class Predictor(Protocol):
    """What every predictor kind provides."""

    kind: ClassVar[str]
    n_inputs: int
    n_latent: int

    def __call__(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance ``(q, m)`` at unit-cube points ``U (q, d)``."""

    def train_inputs(self) -> np.ndarray | None:
        """Unit-cube training inputs ``(n, d)``, or ``None`` when the kind keeps none
        (then a check cannot tell training runs from new ones, and must say so)."""

    def bytes_per_point(self) -> int:
        """Peak temporary memory per query point, for chunking."""


PREDICTORS: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make ``cls`` the predictor of files whose card says ``kind``."""
    PREDICTORS[cls.kind] = cls
    return cls


def build(card: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Predictor:
    """The predictor the card's ``kind`` names."""
    kind = card.get("kind")
    if kind not in PREDICTORS:
        _load_builtin_kinds()
    if kind not in PREDICTORS:
        raise EmulatorFileError(f"unknown emulator kind {kind!r}; this runtime knows "
                                f"{sorted(PREDICTORS)}")
    cls = PREDICTORS[kind]
    return cls(card, arrays, card.get("prefix", cls.default_prefix))


def _load_builtin_kinds() -> None:
    import importlib

    for mod in ("gp", "mfgp", "ensemble"):
        try:
            importlib.import_module(f"emulators.runtime.{mod}")
        except ModuleNotFoundError as exc:  # a kind not built into this release
            if exc.name != f"emulators.runtime.{mod}":
                raise


def predict_chunked(fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                    U: np.ndarray, bytes_per_point: int) -> tuple[np.ndarray, np.ndarray]:
    """``fn(U)`` evaluated in row chunks that keep temporaries under :data:`CHUNK_BYTES`."""
    q = len(U)
    step = max(1, CHUNK_BYTES // max(int(bytes_per_point), 1))
    if q <= step:
        return fn(U)
    parts = [fn(U[i:i + step]) for i in range(0, q, step)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# -- array schema ----------------------------------------------------------------------
def require(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int | None, ...], *,
            positive: bool = False, nonnegative: bool = False) -> np.ndarray:
    """Array ``key`` with the given shape (``None``: any size), checked; else
    :class:`EmulatorFileError` naming the key and what was expected."""
    if key not in arrays:
        raise EmulatorFileError(f"the emulator file has no array {key!r}")
    a = arrays[key]
    if a.dtype != np.float64:
        raise EmulatorFileError(f"array {key!r} is {a.dtype}, not float64")
    if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape,
                                                                          strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise EmulatorFileError(f"array {key!r} has shape {a.shape}; the card implies {want}")
    if not np.all(np.isfinite(a)):
        raise EmulatorFileError(f"array {key!r} holds NaN or infinite values")
    if positive and not np.all(a > 0):
        raise EmulatorFileError(f"array {key!r} must be positive (variances, length-scales)")
    if nonnegative and not np.all(a >= 0):
        raise EmulatorFileError(f"array {key!r} must be non-negative")
    return a


def block_card(card: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    """The card section describing the block at ``prefix`` (``model.blocks[prefix]``),
    or the whole ``model`` section for a single-block file."""
    model = card.get("model") or {}
    if not isinstance(model, Mapping):
        raise EmulatorFileError("the card's 'model' section is not a mapping")
    blocks = model.get("blocks") or {}
    section = blocks.get(prefix, model) if isinstance(blocks, Mapping) else model
    if not isinstance(section, Mapping):
        raise EmulatorFileError(f"the card's model section for {prefix!r} is not a mapping")
    return section
