"""The gpytorch model: independent exact GPs, one per output, batched.

Each latent output ``j`` has its own constant mean ``c_j``, signal variance ``σ_j²``,
ARD lengthscales ``ℓ_j`` and noise ``σ_n,j²`` (Rasmussen & Williams 2006, eq. 2.25–2.26):

.. math::
    f_j \\sim \\mathcal{GP}(c_j, σ_j^2 k(x, x'; ℓ_j)), \\quad y_j = f_j + ε, ε \\sim N(0, σ_{n,j}^2)

with ``k`` the Matérn-5/2 or squared-exponential (RBF) kernel.  Shapes follow gpytorch:
``train_x`` is ``(m, n, d)``, ``train_y`` is ``(m, n)`` with ``m`` outputs.
"""

from __future__ import annotations

import gpytorch
import torch

KERNELS = ("matern52", "matern32", "rbf")


#: Hyperparameter ranges on unit-cube inputs and standardised outputs.  Lengthscales
#: from 1% to 100× the input range and signal variances from 1e-4 to 1e4 cover every
#: useful fit and keep L-BFGS out of regions where the Cholesky factor breaks down.
LENGTHSCALE_RANGE = (1e-2, 1e2)
OUTPUTSCALE_RANGE = (1e-4, 1e4)


def make_kernel(kind: str, d: int, m: int, ard: bool = True) -> gpytorch.kernels.Kernel:
    """A batch of ``m`` scaled stationary kernels on ``d`` inputs: one lengthscale per
    input (``ard``, automatic relevance determination) or one shared by all."""
    batch = torch.Size([m])
    ls = gpytorch.constraints.Interval(*LENGTHSCALE_RANGE)
    common = {"ard_num_dims": d if ard else None, "batch_shape": batch,
              "lengthscale_constraint": ls}
    if kind == "matern52":
        base = gpytorch.kernels.MaternKernel(nu=2.5, **common)
    elif kind == "matern32":
        base = gpytorch.kernels.MaternKernel(nu=1.5, **common)
    elif kind == "rbf":
        base = gpytorch.kernels.RBFKernel(**common)
    else:
        raise ValueError(f"unknown kernel {kind!r}; choose one of {', '.join(KERNELS)}")
    return gpytorch.kernels.ScaleKernel(
        base, batch_shape=batch,
        outputscale_constraint=gpytorch.constraints.Interval(*OUTPUTSCALE_RANGE))


class BatchIndependentGP(gpytorch.models.ExactGP):
    """``m`` independent exact GPs sharing the training inputs."""

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor,
                 likelihood: gpytorch.likelihoods.GaussianLikelihood, kernel: str):
        super().__init__(train_x, train_y, likelihood)
        m, _, d = train_x.shape
        self.mean_module = gpytorch.means.ConstantMean(batch_shape=torch.Size([m]))
        self.covar_module = make_kernel(kernel, d, m)

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def make_likelihood(m: int, noise_floor: float) -> gpytorch.likelihoods.GaussianLikelihood:
    """Gaussian likelihood with a noise floor (on standardised outputs)."""
    return gpytorch.likelihoods.GaussianLikelihood(
        batch_shape=torch.Size([m]),
        noise_constraint=gpytorch.constraints.Interval(noise_floor, 10.0),
    )
