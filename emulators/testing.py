"""Helpers for users' own test suites: assert that an emulator still meets its bar.

In a test::

    from emulators.testing import assert_emulator_meets

    def test_published_emulator():
        assert_emulator_meets("models/aorta.safetensors", "data/aorta-check.h5",
                              runs="test-", thresholds={"default": {"r2_min": 0.99}})

or as a pytest fixture: add ``pytest_plugins = ["emulators.testing"]`` to ``conftest.py``
and take ``twinemu_check`` as an argument (it is :func:`assert_emulator_meets`).
A failure raises :class:`~emulators.errors.CheckFailed` (an ``AssertionError``) whose
message is the pass/fail table, so pytest shows what missed which bar.
"""

from __future__ import annotations

import os
from typing import Any

from emulators.errors import CheckFailed


def assert_emulator_meets(emulator: Any, archive: str | os.PathLike, **kwargs: Any) -> Any:
    """Run :func:`emulators.validation.gate.check_emulator` and raise ``CheckFailed`` with
    the table when a bar is missed; return the :class:`CheckReport` when all are met.

    Keyword arguments are those of ``check_emulator`` (``thresholds``, ``runs``,
    ``fidelity``, ``outputs``, ``level``, ``tolerance``, ``skip_outside``...).
    """
    from emulators.validation.gate import check_emulator

    report = check_emulator(emulator, archive, **kwargs)
    if not report.passed:
        missed = "; ".join(f"{r.output} {r.check} {r.value} (bar {r.bar})"
                           for r in report.table.failures)
        raise CheckFailed(f"emulator misses its bar: {missed}\n\n{report.text()}")
    return report


try:  # the fixture exists only where pytest does (a twin runtime has no pytest)
    import pytest

    @pytest.fixture
    def twinemu_check() -> Any:
        """:func:`assert_emulator_meets`, as a fixture."""
        return assert_emulator_meets
except ImportError:  # pragma: no cover
    pass
