"""Fitting loop: maximise the exact marginal log likelihood with L-BFGS until converged.

Kept apart from the model (STYLE §1, after botorch's ``fit_gpytorch_mll``): a function
that takes the MLL and reports what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import gpytorch
import torch


@dataclass
class FitReport:
    """Outcome of :func:`fit_mll`.

    ``status`` is ``"converged"`` (change in loss below ``tol``), ``"max_iter"`` or
    ``"failed"`` (non-finite loss); ``loss`` is the final negative MLL per data point,
    one value per output.
    """

    status: str
    iterations: int
    loss: list[float]
    message: str = ""

    @property
    def success(self) -> bool:
        return self.status == "converged"


def fit_mll(mll: gpytorch.mlls.ExactMarginalLogLikelihood, *, max_iter: int = 200,
            tol: float = 1e-9) -> FitReport:
    """Maximise ``mll`` over its model's hyperparameters (L-BFGS, strong Wolfe)."""
    model = mll.model
    model.train()
    mll.likelihood.train()
    x, y = model.train_inputs[0], model.train_targets
    params = [p for p in mll.parameters() if p.requires_grad]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=tol, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -mll(model(x), y).sum()
        if torch.isfinite(loss):
            loss.backward()
        return loss

    try:
        opt.step(closure)
    except (RuntimeError, ValueError) as exc:  # Cholesky failure, NaN in line search
        return FitReport("failed", _n_iter(opt), [float("nan")], message=str(exc))
    with torch.no_grad():
        per_output = -mll(model(x), y)
    per_output = per_output.reshape(-1)
    n_iter = _n_iter(opt)
    if not torch.isfinite(per_output).all():
        return FitReport("failed", n_iter, per_output.tolist(), message="non-finite loss")
    status = "converged" if n_iter < max_iter else "max_iter"
    return FitReport(status, n_iter, per_output.tolist())


def _n_iter(opt: torch.optim.LBFGS) -> int:
    state = opt.state[opt._params[0]]
    return int(state.get("n_iter", 0))
