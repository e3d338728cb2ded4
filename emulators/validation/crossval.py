"""Cross-validation: k-fold for every emulator kind, closed-form leave-one-out for GPs.

Leave-one-out of an exact GP needs no refit (Rasmussen & Williams 2006, eq. 5.12): with
``K`` the training covariance (noise included), ``α = K⁻¹(z − c)``,

    μ₋ᵢ = zᵢ − αᵢ / [K⁻¹]ᵢᵢ,      σ²₋ᵢ = 1 / [K⁻¹]ᵢᵢ,

which equals refitting without run ``i`` at fixed hyperparameters.  It runs on the
exported arrays (``L⁻¹``, ``α``), so it works on an emulator file as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from emulators.validation.result import ValidationResult, _units_of, from_predictions


def cross_validate(make_model: Callable[[], Any], X: np.ndarray, Y: Mapping[str, np.ndarray],
                   *, k: int = 5, level: float = 0.95, seed: int | None = 0,
                   space: Any = None, units: Mapping[str, str] | None = None
                   ) -> ValidationResult:
    """k-fold cross-validation of any emulator kind: refit ``make_model()`` on k−1 folds and
    predict the held-out fold (hyperparameters re-learnt each time; R² is then Q²)."""
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
    model = None
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        model = make_model().fit(X[train], {kk: np.asarray(v)[train] for kk, v in Y.items()},
                                 space=space, units=units)
        p = model.predict_dict(X[test])
        for name in Y:
            preds[name][1][test] = p[name][0]
            preds[name][2][test] = p[name][1]
    units = dict(units) if units is not None else _units_of(model)
    return from_predictions(preds, level=level, method=f"{k}-fold CV", X=X,
                            input_names=list(space.names), units=units)


def gp_predictor(model: Any) -> Any:
    """The exact-GP predictor of an emulator or emulator file, or ``TypeError``."""
    pred = getattr(model, "predictor", None) or getattr(model, "_predictor", None)
    if pred is None or not all(hasattr(pred, a) for a in ("L_inv", "alpha", "U", "kernel")):
        raise TypeError(f"closed-form leave-one-out needs an exact GP; "
                        f"{type(model).__name__} is not one (use cross_validate, k-fold)")
    return pred


def loo_latent(pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent training targets, LOO means and LOO variances, each ``(n, m)`` (eq. 5.12)."""
    from emulators.runtime.gp import kernel_matrix

    n = pred.U.shape[0]
    K = kernel_matrix(pred.kernel, pred.U, pred.U, pred.lengthscale, pred.outputscale)
    K = K + pred.noise[:, None, None] * np.eye(n)
    Kinv = np.matmul(np.swapaxes(pred.L_inv, 1, 2), pred.L_inv)  # K⁻¹ = L⁻ᵀ L⁻¹
    diag = np.diagonal(Kinv, axis1=1, axis2=2)  # (m, n)
    z = pred.const[:, None] + np.einsum("mij,mj->mi", K, pred.alpha)  # targets, (m, n)
    mean = z - pred.alpha / diag
    return z.T, mean.T, (1.0 / diag).T


def leave_one_out(model: Any, Y: Mapping[str, np.ndarray] | None = None, *,
                  level: float = 0.95) -> ValidationResult:
    """Closed-form leave-one-out of an exact GP (a fitted ``GaussianProcess`` or a loaded
    emulator file), in physical units.

    ``Y`` — the training outputs ``{name: (n,) or (n, T)}`` in the training order — is the
    truth to compare with; without it the truth is rebuilt from the latent targets (exact
    unless a waveform was reduced by PCA, where it is the projected waveform).
    """
    pred = gp_predictor(model)
    z, mean, var = loo_latent(pred)
    transform = model.outputs
    zeros = np.zeros_like(z)
    m_phys, v_phys = transform.inverse(mean, var)
    t_phys = transform.inverse(z, zeros)[0]
    m_map, v_map, t_map = (transform.split(a) for a in (m_phys, v_phys, t_phys))
    if Y is not None:
        t_map = {k: np.asarray(Y[k], float).reshape(m_map[k].shape) for k in m_map if k in Y}
    items = {k: (t_map[k], m_map[k], v_map[k]) for k in t_map}
    X = model.space.from_unit(pred.U)
    return from_predictions(items, level=level, method="LOO", X=X,
                            input_names=list(model.space.names), units=_units_of(model))
