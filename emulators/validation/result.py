"""``validate``: compare an emulator with held-out truth; ``ValidationResult`` holds it all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emulators.validation.metrics import LEVELS, OutputMetrics, metrics
from simulators.units import display_unit, to_display


@dataclass
class ValidationResult:
    """Metrics per output name, at interval level ``level``.

    ``predictions`` maps each output to ``(truth, mean, variance)`` in stored units;
    ``X`` holds the inputs ``(n, d)`` of the runs compared (named ``input_names``) and
    ``units`` the stored unit of each output.  ``method`` is ``"holdout"``, ``"LOO"`` or
    ``"k-fold CV"``; under cross-validation R² is reported as Q².
    """

    metrics: dict[str, OutputMetrics]
    level: float
    n: int
    method: str = "holdout"
    predictions: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)
    X: np.ndarray | None = field(default=None, repr=False)
    input_names: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> OutputMetrics:
        return self.metrics[name]

    @property
    def is_cv(self) -> bool:
        return self.method != "holdout"

    @property
    def r2_label(self) -> str:
        return "Q²" if self.is_cv else "R²"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dimensional metrics in display units (each output says its unit)."""
        outs = {}
        for k, m in self.metrics.items():
            d = m.to_dict()
            if self.is_cv:
                d["q2"] = d["r2"]
            outs[k] = d
        return {"level": self.level, "n": self.n, "method": self.method, "outputs": outs}

    def table(self) -> str:
        """A plain-text table for the console, in display units."""
        w = max([len(k) for k in self.metrics] + [6])
        units = {k: display_unit(m.unit) for k, m in self.metrics.items()}
        uw = max([len(u) for u in units.values()] + [4])
        head = (f"{'output':<{w}}  {'unit':<{uw}}  {'RMSE':>10}  {'NRMSE':>7}  "
                f"{self.r2_label:>8}  {'cov50':>5}  {'cov90':>5}  {'cov95':>5}  "
                f"{'MSLL':>7}  {'CRPS':>10}")
        lines = [head]
        for k, m in self.metrics.items():
            rmse, u = to_display(m.rmse, m.unit)
            crps, _ = to_display(m.crps, m.unit)
            cov = [100 * m.coverages.get(lv, float("nan")) for lv in LEVELS]
            lines.append(f"{k:<{w}}  {u:<{uw}}  {rmse:10.4g}  {m.nrmse:7.4f}  {m.r2:8.5f}  "
                         f"{cov[0]:5.1f}  {cov[1]:5.1f}  {cov[2]:5.1f}  {m.msll:7.3f}  "
                         f"{crps:10.4g}")
        return "\n".join(lines)


def _units_of(model: Any) -> dict[str, str]:
    blocks = getattr(getattr(model, "outputs", None), "blocks", None) or []
    return {b.name: b.unit for b in blocks}


def _input_names(model: Any) -> list[str]:
    space = getattr(model, "space", None)
    return list(space.names) if space is not None else []


def validate(model: Any, X: np.ndarray, Y: Mapping[str, np.ndarray] | np.ndarray, *,
             level: float = 0.95, units: Mapping[str, str] | None = None) -> ValidationResult:
    """Compare ``model`` (emulator or runtime emulator) with held-out truth ``Y`` at ``X``.

    ``Y`` is ``{name: (n,) or (n, T)}`` (names as the model's outputs), or an array shaped
    like the model's ``predict`` output.  ``units`` defaults to the model's output units.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    X = np.asarray(X, float)
    if isinstance(Y, Mapping):
        pred = model.predict_dict(X)
        missing = [k for k in Y if k not in pred]
        if missing:
            raise ValueError(f"outputs {missing} are not predicted by the model "
                             f"(it predicts {list(pred)})")
        items = {k: (np.asarray(Y[k], float), *pred[k]) for k in Y}
    else:
        mean, var = model.predict(X)
        items = {"y": (np.asarray(Y, float).reshape(mean.shape), mean, var)}
    units = dict(units) if units is not None else _units_of(model)
    return from_predictions(items, level=level, X=X, input_names=_input_names(model),
                            units=units)


def from_predictions(items: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                     level: float = 0.95, method: str = "holdout", X: np.ndarray | None = None,
                     input_names: list[str] | None = None,
                     units: Mapping[str, str] | None = None) -> ValidationResult:
    """A :class:`ValidationResult` from ``{name: (truth, mean, variance)}`` arrays."""
    units = dict(units or {})
    items = {k: tuple(np.asarray(a, float) for a in v) for k, v in items.items()}
    out = {k: metrics(t, m, v, level, unit=units.get(k, "")) for k, (t, m, v) in items.items()}
    n = len(next(iter(items.values()))[0]) if items else 0
    return ValidationResult(out, level, n, method=method, predictions=dict(items),
                            X=X, input_names=list(input_names or []), units=units)


def check_metrics(result: ValidationResult, *, r2_min: float | None = None,
                  nrmse_max: float | None = None, coverage_min: float | None = None,
                  coverage_max: float | None = None) -> dict[str, list[str]]:
    """Per output, the bars it misses (an empty list: it passes).  ``None`` skips a bar;
    R² applies to scalar outputs only (a waveform's pooled R² mixes phases)."""
    out = {}
    for name, m in result.metrics.items():
        why = []
        if r2_min is not None and not m.is_waveform and not m.r2 >= r2_min:
            why.append(f"{result.r2_label} {m.r2:.4f} < {r2_min}")
        if nrmse_max is not None and not m.nrmse <= nrmse_max:
            why.append(f"NRMSE {m.nrmse:.4f} > {nrmse_max}")
        if coverage_min is not None and not m.coverage >= coverage_min:
            why.append(f"coverage {m.coverage:.3f} < {coverage_min}")
        if coverage_max is not None and not m.coverage <= coverage_max:
            why.append(f"coverage {m.coverage:.3f} > {coverage_max}")
        out[name] = why
    return out
