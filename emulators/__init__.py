"""twinemu emulators: fit, validate, analyse and export surrogates of simulations.

Heavy classes are handed out lazily (module ``__getattr__``), so that
``from emulators import runtime`` imports numpy only (no torch, gpytorch or scipy).
"""

from __future__ import annotations

import importlib
from typing import Any

__twinemu__ = True

try:  # our sibling packages share generic names with PyPI projects: check they are ours
    from simulators._guard import import_sibling as _import_sibling
except ImportError as _exc:  # pragma: no cover - only with a foreign 'simulators' first
    raise ImportError(
        "'import simulators' did not find twinemu's package (another package of that name "
        "shadows it); uninstall it or run from the twinemu checkout (pip install -e .)"
    ) from _exc

_import_sibling("simulators")  # light; 'datasets' is checked where it is imported

_LAZY = {
    "GaussianProcess": "emulators.gp",
    "NeuralEnsemble": "emulators.neural",
    "MultiFidelityGP": "emulators.mfgp",
    "Emulator": "emulators.base",
    "validate": "emulators.validation",
    "sobol": "emulators.sensitivity",
    "load": "emulators.runtime",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emulators' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
