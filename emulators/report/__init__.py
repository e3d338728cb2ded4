"""The validation report: one template, rendered to self-contained HTML and Markdown.

- :mod:`~emulators.report.document`: the template (sections of Markdown and images) and
  its HTML and Markdown renderers;
- :mod:`~emulators.report.plots`: the validation and diagnostic plots (Agg, units shown);
- :mod:`~emulators.report.build`: the content — :func:`experiment_report` (the one call of
  the experiment's report stage) and :func:`emulator_report` (``twinemu report``).

Sensitivity plots live in :mod:`emulators.sensitivity.plots`.
"""

from __future__ import annotations

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
           "parity_plot", "waveform_plot"]
