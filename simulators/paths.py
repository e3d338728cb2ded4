"""Where the config tree is: a checkout's ``conf/``, or the copy shipped in the wheel.

``pip install twinemu`` installs ``conf/`` as the data package ``twinemu_conf`` (see
``setup.py``), so ``twinemu run`` and relative network paths work outside a checkout.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def checkout_conf() -> Path:
    """``conf/`` beside the packages (exists in a checkout or an editable install)."""
    return Path(__file__).resolve().parents[1] / "conf"


def packaged_conf() -> Path | None:
    """The ``conf/`` tree installed with the wheel (package ``twinemu_conf``), if any."""
    spec = importlib.util.find_spec("twinemu_conf")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        if (Path(loc) / "config.yaml").is_file():
            return Path(loc)
    return None


def conf_dir() -> Path:
    """The config tree: ``$TWINEMU_CONF``, else a checkout's ``conf/``, else the packaged
    copy (the checkout's path is returned when neither exists, for the error message)."""
    env = os.environ.get("TWINEMU_CONF")
    if env:
        return Path(env)
    checkout = checkout_conf()
    if (checkout / "config.yaml").is_file():
        return checkout
    return packaged_conf() or checkout
