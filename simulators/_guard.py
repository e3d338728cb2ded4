"""Check that a sibling top-level package is ours, not a same-named one from PyPI."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_sibling(name: str) -> ModuleType:
    """Import ``name`` and check it is the twinemu package (it sets ``__twinemu__``).

    ``datasets`` and ``simulators`` are also names of unrelated PyPI projects; if one of
    those shadows ours we fail loudly, naming the path that was imported.
    """
    module = importlib.import_module(name)
    if not getattr(module, "__twinemu__", False):
        where = getattr(module, "__file__", None) or "<namespace package>"
        raise ImportError(
            f"'import {name}' found {where}, which is not twinemu's '{name}' package. "
            f"Another package of the same name shadows it: uninstall it or run from the "
            f"twinemu checkout (pip install -e .)."
        )
    return module
