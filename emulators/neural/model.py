"""A batch of ``K`` MLPs with mean and variance heads, trained as one tensor program.

Member ``k`` maps unit-cube inputs to ``2m`` numbers: means ``μ_k`` and raw variances
``s_k`` of the ``m`` standardised latent outputs, ``σ²_k = softplus(s_k) + min_var``
(Lakshminarayanan et al. 2017, eq. 1).  All members live in the same parameters, stacked
on a leading axis: Adam and weight decay act elementwise, so training them together is
exactly training them apart, only faster on a CPU.
"""

from __future__ import annotations

import math

import torch


class BatchedMLP(torch.nn.Module):
    """``K`` independent MLPs ``d → hidden... → 2m`` with SiLU activations."""

    def __init__(self, members: int, d: int, hidden: tuple[int, ...], m: int, *,
                 min_var: float, generator: torch.Generator):
        super().__init__()
        sizes = [d, *hidden, 2 * m]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)  # torch.nn.Linear's default initialisation
            W = (torch.rand(members, fan_in, fan_out, generator=generator,
                            dtype=torch.float64) * 2 - 1) * bound
            b = (torch.rand(members, fan_out, generator=generator, dtype=torch.float64)
                 * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(W))
            self.biases.append(torch.nn.Parameter(b))
        self.m = m
        self.min_var = float(min_var)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (K, q, d)`` or ``(q, d)`` → means and variances ``(K, q, m)``."""
        h = x if x.dim() == 3 else x.unsqueeze(0)
        last = len(self.weights) - 1
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h.expand(W.shape[0], -1, -1), W)
            if i < last:
                h = torch.nn.functional.silu(h)
        mu, raw = h[..., :self.m], h[..., self.m:]
        return mu, torch.nn.functional.softplus(raw) + self.min_var


def gaussian_nll(mu: torch.Tensor, var: torch.Tensor, z: torch.Tensor,
                 beta: float = 0.0) -> torch.Tensor:
    """Per-point Gaussian negative log-likelihood ``½(log σ² + (z − μ)²/σ²)``, ``(K, q)``.

    ``beta > 0`` weights each term by ``stop_grad(σ²)^β`` (β-NLL, Seitzer et al. 2022),
    which keeps the mean from being neglected where the variance is large.
    """
    nll = 0.5 * (torch.log(var) + (z - mu) ** 2 / var)
    if beta > 0:
        nll = nll * var.detach() ** beta
    return nll.mean(dim=-1)
