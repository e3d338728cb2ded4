"""Accuracy bars an emulator must meet: thresholds, the pass/fail table, JUnit XML.

Thresholds come from (first match wins) a file or explicit values, else the metrics the
emulator's card recorded at export, loosened by a tolerance:

- recorded ``nrmse`` → ``nrmse ≤ recorded × (1 + tolerance)``;
- recorded ``r2`` (scalar outputs) → ``1 − R² ≤ (1 − recorded) × (1 + tolerance)``;
- recorded ``coverage`` → ``coverage ≥ recorded − coverage_slack`` (coverage on a few
  dozen runs moves by ±0.1 from sampling alone).

A thresholds file (JSON or YAML) looks like::

    default: {r2_min: 0.99, coverage_min: 0.85}
    outputs:
      p_wave: {nrmse_max: 0.05}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from emulators.validation.result import ValidationResult

#: Keys a threshold may set, and the metric each bounds.
BARS = {"r2_min": ("r2", ">="), "nrmse_max": ("nrmse", "<="),
        "coverage_min": ("coverage", ">="), "coverage_max": ("coverage", "<="),
        "mape_max": ("mape", "<="), "msll_max": ("msll", "<=")}


class ThresholdError(ValueError):
    """A thresholds file or value is malformed (unknown key, not a number...)."""


@dataclass
class Thresholds:
    """Bars per output: ``default`` applies to every output, ``outputs[name]`` overrides."""

    default: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str = "flags"

    def for_output(self, name: str) -> dict[str, float]:
        return {**self.default, **self.outputs.get(name, {})}

    @property
    def empty(self) -> bool:
        return not self.default and not any(self.outputs.values())

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> Thresholds:
        if not isinstance(data, Mapping):
            raise ThresholdError(f"{source}: thresholds must be a mapping with 'default' "
                                 f"and/or 'outputs'")
        unknown = sorted(set(data) - {"default", "outputs"})
        if unknown:
            raise ThresholdError(f"{source}: unknown key(s) {unknown}; use 'default' and "
                                 f"'outputs'")
        outputs = data.get("outputs") or {}
        if not isinstance(outputs, Mapping):
            raise ThresholdError(f"{source}: 'outputs' must map output names to bars")
        return cls(_bars(data.get("default") or {}, f"{source}: default"),
                   {str(k): _bars(v, f"{source}: outputs.{k}") for k, v in outputs.items()},
                   source)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Thresholds:
        """Read a JSON or YAML thresholds file (``FileNotFoundError`` if absent)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no thresholds file at {str(path)!r}")
        text = path.read_text()
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # json and yaml raise their own classes
            raise ThresholdError(f"{str(path)!r} is not valid JSON/YAML "
                                 f"({type(exc).__name__}); see `twinemu check --help`") from exc
        return cls.from_mapping(data or {}, str(path))

    @classmethod
    def from_card(cls, card: Mapping[str, Any], *, tolerance: float = 0.25,
                  coverage_slack: float = 0.1) -> Thresholds:
        """Bars from the metrics the card recorded at export (see the module docstring)."""
        recorded = (card.get("validation") or {}).get("outputs") or {}
        outputs = {}
        for name, m in recorded.items():
            bars: dict[str, float] = {}
            if _finite(m.get("nrmse")):
                bars["nrmse_max"] = float(m["nrmse"]) * (1 + tolerance)
            if _finite(m.get("r2")) and not m.get("rel_l2"):
                bars["r2_min"] = 1 - (1 - float(m["r2"])) * (1 + tolerance)
            if _finite(m.get("coverage")):
                bars["coverage_min"] = max(0.0, float(m["coverage"]) - coverage_slack)
            outputs[str(name)] = bars
        return cls({}, outputs, f"card (tolerance {tolerance:g}, coverage slack "
                                f"{coverage_slack:g})")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and v == v and abs(v) != float("inf")


def _bars(data: Any, where: str) -> dict[str, float]:
    if not isinstance(data, Mapping):
        raise ThresholdError(f"{where} must map bar names to numbers")
    unknown = sorted(set(data) - set(BARS))
    if unknown:
        raise ThresholdError(f"{where}: unknown bar(s) {unknown}; known: {sorted(BARS)}")
    out = {}
    for k, v in data.items():
        if not _finite(v):
            raise ThresholdError(f"{where}: {k} must be a number, got {type(v).__name__}")
        out[k] = float(v)
    return out


@dataclass
class CheckRow:
    """One line of the pass/fail table."""

    output: str
    check: str
    value: str
    bar: str
    passed: bool

    @property
    def status(self) -> str:
        return "pass" if self.passed else "FAIL"


@dataclass
class CheckTable:
    rows: list[CheckRow]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.passed]

    def text(self) -> str:
        head = ("output", "check", "value", "bar", "status")
        rows = [head] + [(r.output, r.check, r.value, r.bar, r.status) for r in self.rows]
        w = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
                         for r in rows)

    def markdown(self) -> str:
        lines = ["| output | check | value | bar | status |", "|---|---|---|---|---|"]
        lines += [f"| {r.output} | {r.check} | {r.value} | {r.bar} | "
                  f"{'pass' if r.passed else '**FAIL**'} |" for r in self.rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "notes": list(self.notes),
                "rows": [r.__dict__ for r in self.rows]}

    def write_junit(self, path: str | os.PathLike, *, name: str = "twinemu check") -> Path:
        """A JUnit XML report: one test case per row, failures with their reason."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cases = []
        for r in self.rows:
            case = (f'  <testcase classname={quoteattr(name + "." + r.output)} '
                    f'name={quoteattr(r.check)}')
            if r.passed:
                cases.append(case + "/>")
            else:
                msg = f"{r.check} = {r.value}, bar {r.bar}"
                cases.append(case + f">\n    <failure message={quoteattr(msg)}>"
                             f"{escape(msg)}</failure>\n  </testcase>")
        notes = (f"  <system-out>{escape(chr(10).join(self.notes))}</system-out>\n"
                 if self.notes else "")
        xml = (f'<?xml version="1.0" encoding="utf-8"?>\n'
               f'<testsuite name={quoteattr(name)} tests="{len(self.rows)}" '
               f'failures="{len(self.failures)}" errors="0">\n'
               + "\n".join(cases) + "\n" + notes + "</testsuite>\n")
        path.write_text(xml)
        return path


def apply_thresholds(result: ValidationResult, thresholds: Thresholds) -> list[CheckRow]:
    """One row per (output, bar); R² bars skip waveforms (their pooled R² mixes phases)."""
    rows = []
    for name, m in result.metrics.items():
        for key, bar in thresholds.for_output(name).items():
            metric, op = BARS[key]
            if metric == "r2" and m.is_waveform:
                continue
            value = float(getattr(m, metric))
            passed = value >= bar if op == ">=" else value <= bar
            label = result.r2_label if metric == "r2" else metric
            rows.append(CheckRow(name, label, f"{value:.4g}", f"{op} {bar:.4g}",
                                 bool(passed)))
    return rows
