"""The validation report: one template, rendered to self-contained HTML and Markdown.

- :mod:`~emulators.report.document`: the template (sections of Markdown and images) and
  its HTML and Markdown renderers;
- :mod:`~emulators.report.plots`: the validation and diagnostic plots (Agg, units shown);
- :mod:`~emulators.report.build`: the content — :func:`experiment_report` (the one call of
  the experiment's report stage) and :func:`emulator_report` (``twinemu report``).

``sobol_plot``, ``sobol_waveform_plot`` and ``sobol_table`` are moving to
:mod:`emulators.sensitivity`; they stay importable from here.
"""

from __future__ import annotations

from typing import Any

from emulators.report.build import (
    emulator_report,
    experiment_report,
    markdown_report,
    metrics_table,
)
from emulators.report.document import Document, Section, write_html, write_markdown
from emulators.report.plots import display_unit, parity_plot, waveform_plot

__all__ = ["experiment_report", "emulator_report", "markdown_report", "metrics_table",
           "Document", "Section", "write_html", "write_markdown", "display_unit",
           "parity_plot", "waveform_plot", "sobol_plot", "sobol_waveform_plot", "sobol_table"]


def _sobol_function(name: str) -> Any:
    """``name`` from :mod:`emulators.sensitivity` where it has moved, else the copy here."""
    import importlib

    try:
        return getattr(importlib.import_module("emulators.sensitivity"), name)
    except AttributeError:
        from emulators.report import _sobol

        return getattr(_sobol, name)


def sobol_plot(*args: Any, **kwargs: Any) -> Any:
    """Shim: :func:`emulators.sensitivity.sobol_plot` (first-order and total indices)."""
    return _sobol_function("sobol_plot")(*args, **kwargs)


def sobol_waveform_plot(*args: Any, **kwargs: Any) -> Any:
    """Shim: :func:`emulators.sensitivity.sobol_waveform_plot` (indices along the cycle)."""
    return _sobol_function("sobol_waveform_plot")(*args, **kwargs)


def sobol_table(*args: Any, **kwargs: Any) -> Any:
    """Shim: :func:`emulators.sensitivity.sobol_table` (Markdown table of indices)."""
    return _sobol_function("sobol_table")(*args, **kwargs)
