"""Accuracy and calibration of an emulator on held-out runs.

Per output: RMSE, normalised RMSE (RMSE / standard deviation of the truth), the
coefficient of determination ``R² = 1 − Σ(y − μ)² / Σ(y − ȳ)²``, the empirical coverage of
the central ``level`` predictive intervals ``μ ± z σ`` (``z`` the normal quantile), and the
mean standardised error ``mean((y − μ)/σ)²`` (≈ 1 for calibrated variances).  Waveform
outputs pool every phase point.  ``cross_validate`` repeats this over k folds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np


@dataclass
class OutputMetrics:
    rmse: float
    nrmse: float
    r2: float
    coverage: float
    mse_std: float
    max_abs_error: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass
class ValidationResult:
    """Metrics per output name, at interval level ``level``."""

    metrics: dict[str, OutputMetrics]
    level: float
    n: int
    method: str = "holdout"
    predictions: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)  # name -> (truth, mean, variance)

    def __getitem__(self, name: str) -> OutputMetrics:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "n": self.n, "method": self.method,
                "outputs": {k: m.to_dict() for k, m in self.metrics.items()}}

    def table(self) -> str:
        w = max(len(k) for k in self.metrics)
        lines = [f"{'output':<{w}}  {'RMSE':>11}  {'NRMSE':>7}  {'R²':>8}  "
                 f"{'cover%':>6}  {'MSE/σ²':>7}"]
        for k, m in self.metrics.items():
            lines.append(f"{k:<{w}}  {m.rmse:11.4g}  {m.nrmse:7.4f}  {m.r2:8.5f}  "
                         f"{100 * m.coverage:6.1f}  {m.mse_std:7.3f}")
        return "\n".join(lines)


def metrics(truth: np.ndarray, mean: np.ndarray, var: np.ndarray, level: float = 0.95
            ) -> OutputMetrics:
    """Metrics of one output (arrays of the same shape; waveforms are pooled)."""
    y, mu, v = (np.asarray(a, float).ravel() for a in (truth, mean, var))
    err = y - mu
    sd_true = y.std()
    ss_tot = np.sum((y - y.mean()) ** 2)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    sigma = np.sqrt(np.maximum(v, 1e-300))
    rmse = float(np.sqrt(np.mean(err**2)))
    return OutputMetrics(
        rmse=rmse,
        nrmse=rmse / sd_true if sd_true > 0 else float("nan"),
        r2=float(1 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        coverage=float(np.mean(np.abs(err) <= z * sigma)),
        mse_std=float(np.mean((err / sigma) ** 2)),
        max_abs_error=float(np.max(np.abs(err))),
        n=len(truth),
    )


def validate(model: Any, X: np.ndarray, Y: Mapping[str, np.ndarray] | np.ndarray, *,
             level: float = 0.95) -> ValidationResult:
    """Compare ``model`` (emulator or runtime emulator) with held-out truth ``Y`` at ``X``.

    ``Y`` is ``{name: (n,) or (n, T)}`` (names as the model's outputs), or an array shaped
    like the model's ``predict`` output.
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
    out = {k: metrics(t, m, v, level) for k, (t, m, v) in items.items()}
    return ValidationResult(out, level, len(X), predictions=items)


def check_metrics(result: ValidationResult, *, r2_min: float | None = None,
                  nrmse_max: float | None = None, coverage_min: float | None = None,
                  coverage_max: float | None = None) -> dict[str, list[str]]:
    """Per output, the bars it misses (an empty list: it passes).  ``None`` skips a bar;
    R² applies to scalar outputs only (a waveform's pooled R² mixes phases)."""
    out = {}
    for name, m in result.metrics.items():
        why = []
        scalar = np.ndim(result.predictions[name][0]) == 1 if result.predictions else True
        if r2_min is not None and scalar and not m.r2 >= r2_min:
            why.append(f"R² {m.r2:.4f} < {r2_min}")
        if nrmse_max is not None and not m.nrmse <= nrmse_max:
            why.append(f"NRMSE {m.nrmse:.4f} > {nrmse_max}")
        if coverage_min is not None and not m.coverage >= coverage_min:
            why.append(f"coverage {m.coverage:.3f} < {coverage_min}")
        if coverage_max is not None and not m.coverage <= coverage_max:
            why.append(f"coverage {m.coverage:.3f} > {coverage_max}")
        out[name] = why
    return out


def cross_validate(make_model: Callable[[], Any], X: np.ndarray, Y: Mapping[str, np.ndarray],
                   *, k: int = 5, level: float = 0.95, seed: int | None = 0,
                   space: Any = None) -> ValidationResult:
    """k-fold cross-validation: refit ``make_model()`` on k−1 folds, predict the last."""
    X = np.asarray(X, float)
    n = len(X)
    if not 2 <= k <= n:
        raise ValueError(f"k must be between 2 and the number of runs ({n}), got {k}")
    if space is None:  # one domain for every fold: the bounding box of all the runs
        from emulators.base import _bounding_space

        space = _bounding_space(X)
    folds = np.array_split(np.random.default_rng(seed).permutation(n), k)
    preds = {name: (np.asarray(y, float), np.zeros_like(y, dtype=float),
                    np.zeros_like(y, dtype=float)) for name, y in Y.items()}
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        model = make_model().fit(X[train], {kk: np.asarray(v)[train] for kk, v in Y.items()},
                                 space=space)
        p = model.predict_dict(X[test])
        for name in Y:
            preds[name][1][test] = p[name][0]
            preds[name][2][test] = p[name][1]
    out = {name: metrics(t, m, v, level) for name, (t, m, v) in preds.items()}
    return ValidationResult(out, level, n, method=f"{k}-fold CV", predictions=preds)
