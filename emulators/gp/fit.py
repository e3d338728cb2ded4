"""Fitting loop: maximise the exact marginal log likelihood with L-BFGS until converged.

Kept apart from the model (STYLE §1, after botorch's ``fit_gpytorch_mll``): a function
that takes the MLL and reports what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gpytorch
import torch


@dataclass
class FitReport:
    """Outcome of :func:`fit_mll`.

    ``status`` is ``"converged"`` (change in loss below ``tol``), ``"max_iter"``,
    ``"stopped"`` (a step broke down; the last finite point was kept) or ``"failed"``
    (no finite loss at all); ``loss`` is the final negative MLL per data point, one value
    per output.
    """

    status: str
    iterations: int
    loss: list[float]
    message: str = ""

    @property
    def success(self) -> bool:
        return self.status == "converged"


def fit_mll(mll: gpytorch.mlls.ExactMarginalLogLikelihood, *, max_iter: int = 200,
            tol: float = 1e-9, chunk: int = 25, max_eval: int | None = None) -> FitReport:
    """Maximise ``mll`` over its model's hyperparameters (L-BFGS, strong Wolfe) with
    :func:`minimise`; ``loss`` in the report is the negative MLL per point, per output.

    The :class:`~emulators.gp.GaussianProcess` fits each output on its own
    (:mod:`emulators.gp.hyper`); this loop remains for models fitted through an MLL.
    """
    model = mll.model
    model.train()
    mll.likelihood.train()
    x, y = model.train_inputs[0], model.train_targets
    params = [p for p in mll.parameters() if p.requires_grad]
    return minimise(params, lambda: (-mll(model(x), y)).reshape(-1), max_iter=max_iter,
                    tol=tol, chunk=chunk, max_eval=max_eval)


def minimise(params: list[torch.Tensor], loss_fn: Callable[[], torch.Tensor], *,
             max_iter: int = 200, tol: float = 1e-9, chunk: int = 25,
             max_eval: int | None = None) -> FitReport:
    """Minimise ``loss_fn().sum()`` over ``params`` (L-BFGS, strong Wolfe).

    ``loss_fn()`` returns one loss per output ``(m,)``, differentiable in ``params``.
    L-BFGS runs in chunks of ``chunk`` iterations; after each, the loss is checked.  If a
    step breaks down (a failed Cholesky factor, a non-finite loss), the parameters go
    back to the last finite point and the fit stops there with status ``"stopped"``:
    a usable fit is never thrown away for a bad line-search trial.  A chunk that ends
    because its evaluation budget (``max_eval``, torch's default ``1.25 chunk``) is spent
    has not converged: the fit goes on, and reports ``"max_iter"`` if ``max_iter`` runs out.
    """

    def loss_per_output() -> torch.Tensor:
        with torch.no_grad():
            return loss_fn().reshape(-1)

    def snapshot() -> list[torch.Tensor]:
        return [p.detach().clone() for p in params]

    def restore(saved: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)

    try:
        last = loss_per_output()
    except (RuntimeError, ValueError) as exc:
        return FitReport("failed", 0, [float("nan")], message=str(exc))
    if not torch.isfinite(last).all():
        return FitReport("failed", 0, last.tolist(), message="non-finite loss at the start")
    good = snapshot()
    done, status, message = 0, "max_iter", ""
    while done < max_iter:
        n = min(chunk, max_iter - done)
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=n, max_eval=max_eval,
                                tolerance_grad=1e-9,
                                tolerance_change=tol, history_size=20,
                                line_search_fn="strong_wolfe")

        def closure(opt: torch.optim.LBFGS = opt) -> torch.Tensor:
            opt.zero_grad()
            loss = loss_fn().sum()
            if torch.isfinite(loss):
                loss.backward()
            return loss

        try:
            opt.step(closure)
            now = loss_per_output()
        except (RuntimeError, ValueError) as exc:  # Cholesky failure inside a trial step
            restore(good)
            status, message = "stopped", f"stopped at the last finite point: {exc}"
            break
        if not torch.isfinite(now).all():
            restore(good)
            status, message = "stopped", "stopped at the last finite point: non-finite loss"
            break
        state = opt.state[opt._params[0]]
        used = int(state.get("n_iter", n))
        # torch's L-BFGS also returns early when the chunk's evaluation budget (max_eval)
        # is spent: that is not convergence, so the next chunk carries on.
        budget_spent = int(state.get("func_evals", 0)) >= int(opt.defaults["max_eval"])
        done += used
        change = float((last.sum() - now.sum()).abs())
        last, good = now, snapshot()
        if change <= tol * max(1.0, float(now.sum().abs())) or (used < n and not budget_spent):
            status = "converged"
            break
        if used == 0:  # no iteration fitted in the budget: give up rather than spin
            status, message = "max_iter", "evaluation budget spent without a full iteration"
            break
    return FitReport(status, done, last.tolist(), message)
