"""Shared pytest fixtures.

``shared_data`` points at ``../shared/data`` beside the checkout (or ``$TWINEMU_SHARED_DATA``)
and skips the test cleanly where the reference data is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("TWINEMU_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the public reference data; skips when it is not beside the checkout."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("reference data ../shared/data is absent (set TWINEMU_SHARED_DATA)")
    return path
