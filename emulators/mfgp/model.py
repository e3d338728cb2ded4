"""One fidelity level as a torch module: its kernel, noise and regression mean.

Every level ``t`` is fitted on its own data (the recursive formulation of Le Gratiet &
Garnier 2014, §3.2): ``y_t = H β + δ_t(x) + ε`` with regressors ``H`` — ``[1]`` at level 0,
``[g(x) f_{t−1}(x), 1]`` for a linear (KOH 2000, eq. 2) level, ``[1]`` for a nonlinear
level whose kernel takes ``f_{t−1}`` as an input (Perdikaris et al. 2017, eq. 5).  The
coefficients ``β`` are profiled out by generalised least squares and the covariance
hyperparameters maximise the *restricted* likelihood (REML; Le Gratiet & Garnier 2014
eq. 3.9 use the same ``n − p`` correction for the variance), which does not shrink the
signal variance by the ``p`` degrees of freedom spent on β — with 4–6 high-fidelity points
that is the difference between honest and over-confident intervals.

Level 0 may warp its inputs first (Kumaraswamy CDF per input; Snoek et al. 2014), for
functions that are steep in one corner and flat elsewhere.

Shapes: ``m`` latent outputs (batched), ``n`` points, ``d`` inputs, ``p`` regressors.
"""

from __future__ import annotations

import math

import gpytorch
import torch

from emulators.gp.model import KERNELS, LENGTHSCALE_RANGE, make_kernel
from emulators.runtime.mfgp import WARP_EPS  # inputs clipped before warping (u^a at 0)

#: Log-normal prior on every unit-cube lengthscale (median 0.5, s.d. of log 1.5): weak, it
#: only keeps REML from declaring a 4-point level constant (ℓ → 100) or white (ℓ → 0.01).
LOG_LS_PRIOR = (math.log(0.5), 1.5)

#: Log-normal prior on the Kumaraswamy warping shapes ``a, b`` (Snoek et al. 2014 place
#: log-normal priors on them too): centred on the identity warp ``a = b = 1``; s.d. 0.75 of
#: the log lets ``a`` reach ~0.2 (a steep edge stretched over a fifth of the cube) at two
#: prior s.d.
LOG_WARP_PRIOR = (0.0, 0.75)
#: Bounds on ``log a``, ``log b``.
LOG_WARP_RANGE = (-3.0, 3.0)


def kumaraswamy(U: torch.Tensor, log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """Input warping by the Kumaraswamy CDF, ``w(u) = 1 − (1 − u^a)^b`` per input (Snoek et
    al. 2014, "Input warping for Bayesian optimization of non-stationary functions", eq. 3):
    ``U (n, d)``, ``log_a, log_b (m, d)`` → ``(m, n, d)``."""
    u = U.clamp(WARP_EPS, 1.0 - WARP_EPS)[None]
    a = torch.exp(log_a.clamp(*LOG_WARP_RANGE))[:, None, :]
    b = torch.exp(log_b.clamp(*LOG_WARP_RANGE))[:, None, :]
    return 1.0 - (1.0 - u**a) ** b


class LevelModel(torch.nn.Module):
    """Covariance of one level: ``k_δ`` (+ ``k_ρ k_f`` when ``nonlinear``) and noise."""

    def __init__(self, kind: str, d: int, m: int, noise_floor: float, nonlinear: bool = False,
                 ls_prior: tuple[float, float] = LOG_LS_PRIOR, warp: bool = False,
                 shared_lengthscale: bool = False):
        super().__init__()
        self.ls_prior = ls_prior
        if kind not in KERNELS:
            raise ValueError(f"unknown kernel {kind!r}; choose one of {', '.join(KERNELS)}")
        self.kind, self.d, self.m = kind, d, m
        # k_δ: one lengthscale per input, or one shared by all (few points, many inputs)
        self.shared_lengthscale = shared_lengthscale
        self.delta = make_kernel(kind, d, m, ard=not shared_lengthscale)
        self.noise_constraint = gpytorch.constraints.Interval(noise_floor, 10.0)
        self.raw_noise = torch.nn.Parameter(torch.zeros(m, dtype=torch.float64))
        self.nonlinear = nonlinear
        self.warp = warp
        if warp:  # log a, log b of the Kumaraswamy warping, per output and input
            self.log_warp_a = torch.nn.Parameter(torch.zeros(m, d, dtype=torch.float64))
            self.log_warp_b = torch.nn.Parameter(torch.zeros(m, d, dtype=torch.float64))
        if nonlinear:
            self.rho = make_kernel(kind, d, m)
            self.f = make_kernel(kind, 1, m).base_kernel
        self.double()

    @property
    def noise(self) -> torch.Tensor:
        return self.noise_constraint.transform(self.raw_noise)

    def covariance(self, U: torch.Tensor, F: torch.Tensor | None = None) -> torch.Tensor:
        """Noise-free ``K (m, n, n)`` at ``U (n, d)`` (and lower-level values ``F (m, n)``)."""
        x = self.inputs(U)
        K = self.delta(x).to_dense()
        if self.nonlinear:  # k_ρ(x, x') k_f(f, f') + k_δ(x, x')  (Perdikaris et al. eq. 5)
            K = K + self.rho(x).to_dense() * self.f(F.unsqueeze(-1)).to_dense()
        return K

    def inputs(self, U: torch.Tensor) -> torch.Tensor:
        """The kernel's inputs ``(m, n, d)``: ``U (n, d)``, warped when ``warp``."""
        if self.warp:
            return kumaraswamy(U, self.log_warp_a, self.log_warp_b)
        return U.expand(self.m, *U.shape)

    def delta_lengthscale(self) -> torch.Tensor:
        """``k_δ``'s lengthscales ``(m, d)`` (a shared one repeated per input)."""
        return self.delta.base_kernel.lengthscale.reshape(self.m, -1).expand(self.m, self.d)

    def lengthscales(self) -> list[torch.Tensor]:
        out = [self.delta.base_kernel.lengthscale]
        if self.nonlinear:
            out += [self.rho.base_kernel.lengthscale, self.f.lengthscale]
        return out


def gls(K: torch.Tensor, noise: torch.Tensor, H: torch.Tensor, y: torch.Tensor) -> dict:
    """Generalised least squares under ``K + σn² I`` (Le Gratiet & Garnier 2014 eq. 3.4).

    Returns ``L`` (Cholesky factor), ``A = L⁻¹H``, ``G = HᵀK⁻¹H``, ``beta``, whitened
    residual ``r = L⁻¹(y − Hβ)``.
    """
    n = K.shape[-1]
    Kn = K + noise[:, None, None] * torch.eye(n, dtype=K.dtype)
    L = torch.linalg.cholesky(Kn)
    A = torch.linalg.solve_triangular(L, H, upper=False)
    b = torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False)
    G = A.transpose(-1, -2) @ A
    beta = torch.linalg.solve(G, A.transpose(-1, -2) @ b)
    r = (b - A @ beta).squeeze(-1)
    return {"L": L, "A": A, "G": G, "beta": beta.squeeze(-1), "r": r}


def restricted_nll(model: LevelModel, U: torch.Tensor, F: torch.Tensor | None,
                   H: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Negative restricted log likelihood per point, one value per output ``(m,)``.

    ``½ rᵀr + ½ log|K| + ½ log|HᵀK⁻¹H| + (n−p)/2 log 2π`` (Harville 1974; R&W 2006
    eq. 2.45 with a flat prior on β) plus the log-normal lengthscale prior.
    """
    n, p = y.shape[-1], H.shape[-1]
    s = gls(model.covariance(U, F), model.noise, H, y)
    logdet_K = 2.0 * torch.log(torch.diagonal(s["L"], dim1=-2, dim2=-1)).sum(-1)
    logdet_G = torch.linalg.slogdet(s["G"])[1]
    nll = 0.5 * (s["r"] ** 2).sum(-1) + 0.5 * logdet_K + 0.5 * logdet_G \
        + 0.5 * (n - p) * math.log(2 * math.pi)
    mu, sd = model.ls_prior
    for ls in model.lengthscales():
        z = (torch.log(ls.reshape(model.m, -1)) - mu) / sd
        nll = nll + 0.5 * (z**2).sum(-1)
    if model.warp:
        mu, sd = LOG_WARP_PRIOR
        for w in (model.log_warp_a, model.log_warp_b):
            nll = nll + 0.5 * (((w - mu) / sd) ** 2).sum(-1)
    return nll / n


def initialise(model: LevelModel, restart: int, gen: torch.Generator,
               delta_scale: float, spacing: float) -> None:
    """Restart 0 from lengthscale 0.5; restart 1 from ``spacing`` (the design's typical
    distance between neighbours, the shortest scale its points resolve); others
    log-uniform in [0.05, 2] per input."""
    lo, hi = math.log(0.05), math.log(2.0)

    def draw(shape):
        if restart == 0:
            return torch.full(shape, 0.5, dtype=torch.float64)
        if restart == 1:
            return torch.full(shape, spacing, dtype=torch.float64)
        return torch.exp(lo + torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo))

    with torch.no_grad():
        m, d = model.m, model.d
        model.delta.base_kernel.lengthscale = draw((m, 1, 1 if model.shared_lengthscale
                                                    else d))
        model.delta.outputscale = torch.full((m,), delta_scale, dtype=torch.float64)
        model.raw_noise.copy_(model.noise_constraint.inverse_transform(
            torch.full((m,), max(1e-4, 2 * model.noise_constraint.lower_bound.item()),
                       dtype=torch.float64)))
        if model.warp:  # from the identity warp
            model.log_warp_a.zero_()
            model.log_warp_b.zero_()
        if model.nonlinear:
            model.rho.base_kernel.lengthscale = draw((m, 1, d))
            model.rho.outputscale = torch.ones(m, dtype=torch.float64)
            model.f.lengthscale = 2.0 * draw((m, 1, 1)).clamp(*LENGTHSCALE_RANGE)
