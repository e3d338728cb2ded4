"""twinemu emulators: fit, validate, analyse and export surrogates of simulations.

Heavy classes are handed out lazily (module ``__getattr__``), so that
``from emulators import runtime`` imports numpy only (no torch, gpytorch or scipy).
"""

from __future__ import annotations

import importlib
from typing import Any

__twinemu__ = True

_LAZY = {
    "GaussianProcess": "emulators.gp",
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
