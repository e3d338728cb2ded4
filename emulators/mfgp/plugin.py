"""Uncertainty of the estimated covariance parameters, added to the plug-in variance.

A kriging predictor with REML-estimated parameters ``θ̂`` reports the variance it would
have if ``θ`` were known; with 5 high-fidelity points that under-states the error
(Zimmerman & Cressie 1992).  The first-order correction of Kackar & Harville (1984),
Harville & Jeske (1992, JASA 87) adds the spread of the predictor over ``θ``'s
posterior:

    MSPE(x) ≈ σ²(x; θ̂) + ∇_θ μ(x)ᵀ Σ_θ ∇_θ μ(x),   Σ_θ = [∇²_θ ℓ_R(θ̂)]⁻¹,

with ``ℓ_R`` the negative restricted log likelihood (plus the lengthscale prior) in
``θ = (log ℓ_1 … log ℓ_d, log σ²)``.  Since ``μ(x) = h(x)ᵀβ̂ + k_*(x)ᵀα`` with
``α = K⁻¹(y − Hβ̂)``, the gradient is

    ∂μ/∂θ_j = h(x)ᵀ ∂β̂/∂θ_j + (∂k_*/∂θ_j)ᵀ α + k_*ᵀ ∂α/∂θ_j,

so a level stores ``Σ_θ``, ``∂α/∂θ`` and ``∂β̂/∂θ`` and the runtime needs only
``∂k_*/∂θ`` (:func:`emulators.runtime.mfgp.kernel_gradients`).

That term is first order: it is exact only for a predictor linear in ``θ`` under a
Gaussian posterior.  With 5–12 points neither holds (``log ℓ``'s posterior is flat towards
long lengthscales and steep towards short ones, and the kriging variance grows fast as
``ℓ`` shrinks), so by default the level is instead integrated over ``θ``:
:func:`posterior_draws` takes importance-weighted draws whose proposal is this Laplace
approximation, and the runtime mixes the level's GP at each draw.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from emulators.gp.model import LENGTHSCALE_RANGE, OUTPUTSCALE_RANGE
from emulators.mfgp.model import LOG_LS_PRIOR, LOG_WARP_PRIOR, LOG_WARP_RANGE, kumaraswamy


def _profile(kind: str, r2: torch.Tensor) -> torch.Tensor:
    if kind == "rbf":
        return torch.exp(-0.5 * r2)
    r = torch.sqrt(r2.clamp_min(1e-30))
    if kind == "matern52":
        return (1.0 + math.sqrt(5) * r + 5.0 / 3.0 * r2) * torch.exp(-math.sqrt(5) * r)
    return (1.0 + math.sqrt(3) * r) * torch.exp(-math.sqrt(3) * r)


def _cov(kind: str, U: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``K`` at ``θ = (log ℓ, log σ²)``, or ``(log ℓ, log σ², log a, log b)`` of a warped
    level (on its raw inputs ``U``)."""
    d = U.shape[1]
    if len(theta) == 3 * d + 1:
        U = kumaraswamy(U, theta[None, d + 1:2 * d + 1], theta[None, 2 * d + 1:])[0]
    A = U / torch.exp(theta[:d])
    diff = A[:, None, :] - A[None, :, :]
    r2 = (diff**2).sum(-1)
    return torch.exp(theta[d]) * _profile(kind, r2)


def _solve(kind, U, H, y, noise, theta, prior=LOG_LS_PRIOR):
    """``(loss, α, β̂)`` of one output at ``θ`` (Le Gratiet & Garnier 2014 eq. 3.4)."""
    n, p = H.shape
    # the nugget scales with σ² (fixed ratio σn²/σ², its estimate): μ is then invariant
    # to σ² exactly, as it is for a noise-free simulator
    d = U.shape[1]
    K = _cov(kind, U, theta) + noise * torch.exp(theta[d]) * torch.eye(n, dtype=U.dtype)
    L = torch.linalg.cholesky(K)
    A = torch.linalg.solve_triangular(L, H, upper=False)
    b = torch.linalg.solve_triangular(L, y[:, None], upper=False)
    G = A.T @ A
    beta = torch.linalg.solve(G, A.T @ b)
    r = b - A @ beta
    alpha = torch.linalg.solve_triangular(L.T, r, upper=True)[:, 0]
    mu, sd = prior
    loss = 0.5 * (r**2).sum() + torch.log(torch.diagonal(L)).sum() \
        + 0.5 * torch.linalg.slogdet(G)[1] + 0.5 * (((theta[:d] - mu) / sd) ** 2).sum()
    if len(theta) > d + 1:  # the warping shapes' prior, as in the fit
        loss = loss + 0.5 * (((theta[d + 1:] - LOG_WARP_PRIOR[0]) / LOG_WARP_PRIOR[1]) ** 2
                             ).sum()
    return loss, alpha, beta[:, 0]


#: Smallest reciprocal condition number of ``K`` for which ``∂α/∂θ`` (through ``K⁻¹``
#: twice) keeps enough of float64's 16 digits; below it the level keeps the plug-in variance
#: (a dense RBF level whose nugget ratio sits at 1e-10 gave gradients of pure round-off).
MIN_RCOND = 1e-9


def _rcond(kind: str, U: torch.Tensor, nugget: float, theta: torch.Tensor) -> float:
    with torch.no_grad():
        d = U.shape[1]
        K = _cov(kind, U, theta) + nugget * torch.exp(theta[d]) * torch.eye(len(U),
                                                                              dtype=U.dtype)
        w = torch.linalg.eigvalsh(K)
    return float(w[0] / w[-1])


def _prior_constant(theta: torch.Tensor, d: int, prior: tuple[float, float],
                    shared_lengthscale: bool) -> float:
    """``−log`` of the priors' normalising constants: one log-normal per lengthscale
    (one when shared) and per warping shape; the log-flat prior on ``σ²`` is common to
    every model and left out."""
    n_ls = 1 if shared_lengthscale else d
    n_warp = len(theta) - (2 if shared_lengthscale else d + 1)
    return (n_ls * math.log(prior[1] * math.sqrt(2 * math.pi))
            + n_warp * math.log(LOG_WARP_PRIOR[1] * math.sqrt(2 * math.pi)))


def _interior(theta: torch.Tensor, d: int, margin: float = 0.05) -> torch.Tensor:
    """Mask of the parameters more than ``margin`` (in log) inside their bounds: one on a
    bound is held there (the optimum is not stationary in it, so a Laplace approximation
    says nothing about it)."""
    w = len(theta) - d - 1  # warping shapes, if any
    lo = torch.tensor([math.log(LENGTHSCALE_RANGE[0])] * d + [math.log(OUTPUTSCALE_RANGE[0])]
                      + [LOG_WARP_RANGE[0]] * w, dtype=theta.dtype)
    hi = torch.tensor([math.log(LENGTHSCALE_RANGE[1])] * d + [math.log(OUTPUTSCALE_RANGE[1])]
                      + [LOG_WARP_RANGE[1]] * w, dtype=theta.dtype)
    return (theta > lo + margin) & (theta < hi - margin)


def parameter_sensitivity(kind: str, U: np.ndarray, H: np.ndarray, y: np.ndarray,
                          lengthscale: np.ndarray, outputscale: np.ndarray,
                          noise: np.ndarray, prior: tuple[float, float] = LOG_LS_PRIOR,
                          warp: tuple[np.ndarray, np.ndarray] | None = None,
                          shared_lengthscale: bool = False) -> dict[str, np.ndarray]:
    """``theta_cov (m, J, J)``, ``dalpha (m, J, n)``, ``dbeta (m, J, p)`` with
    ``J = d + 1`` for a level fitted on ``U (n, d)``, ``H (m, n, p)``, ``y (m, n)``, and
    ``neg_log_mass (m,)``, the Laplace estimate of −log of θ's posterior mass near ``θ̂``
    (up to a constant; ``inf`` where it could not be formed).  A level with input
    warping ``warp = (a, b)`` (each ``(m, d)``) has ``J = 3d + 1``,
    ``θ = (log ℓ, log σ², log a, log b)``: the warping is estimated from the same few
    points, and its uncertainty belongs in the variance as much as the lengthscales'.

    ``Σ_θ`` is the inverse Hessian of the restricted negative log posterior at ``θ̂``
    (a Laplace approximation of θ's posterior); the Hessian's eigenvalues are floored at
    ``1 / s²`` of the log-lengthscale prior, so a direction the data do not inform is no
    wider than the prior; a parameter on its bound is held fixed (no stationary
    curvature there), and an output whose fit is not stationary (a slope above one
    posterior s.d. per log-unit) keeps the plug-in variance.  The nugget ratio
    ``σn²/σ²`` is held at its estimate (the noise sits at its floor for deterministic
    simulators).  An output whose ``K`` is too ill-conditioned for the derivatives
    (:data:`MIN_RCOND`) keeps the plug-in variance.  An output whose Hessian cannot be
    formed (a Cholesky failure) gets ``Σ_θ = 0``, i.e. the plain plug-in variance, and a
    warning.

    A level whose ``d`` lengthscales are one shared value (``shared_lengthscale``; the
    ``lengthscale`` columns are then equal) has two free parameters ``φ = (log ℓ, log σ²)``
    and one lengthscale prior: the Hessian, the Laplace mass and ``Σ_φ`` are taken in ``φ``,
    and ``Σ_θ = T Σ_φ Tᵀ`` with ``θ = Tφ`` (``∂α/∂θ`` and ``∂β̂/∂θ`` stay per input, so the
    runtime's term ``∇_θμᵀ Σ_θ ∇_θμ = ∇_φμᵀ Σ_φ ∇_φμ`` is unchanged).

    ``neg_log_mass`` includes the priors' normalising constants, so it compares levels
    with different numbers of parameters (ARD or shared lengthscale: MacKay 1992's
    evidence, whose Occam factor penalises the ``d − 1`` extra lengthscales).
    """
    if shared_lengthscale and warp is not None:
        raise ValueError("a warped level has one lengthscale per input; shared_lengthscale "
                         "applies to unwarped levels only")
    m, n, p = H.shape
    d = U.shape[1]
    J = 3 * d + 1 if warp is not None else d + 1
    Ut = torch.as_tensor(U, dtype=torch.float64)
    out = {"theta_cov": np.zeros((m, J, J)), "dalpha": np.zeros((m, J, n)),
           "dbeta": np.zeros((m, J, p)), "neg_log_mass": np.full(m, np.inf)}
    floor = 1.0 / prior[1] ** 2
    for i in range(m):
        Hi = torch.as_tensor(H[i], dtype=torch.float64)
        yi = torch.as_tensor(y[i], dtype=torch.float64)
        nz = float(noise[i] / outputscale[i])  # nugget ratio
        theta = torch.as_tensor(np.r_[np.log(lengthscale[i]), math.log(outputscale[i]),
                                      *(() if warp is None else (np.log(warp[0][i]),
                                                                 np.log(warp[1][i])))],
                                dtype=torch.float64)

        def f(th, Hi=Hi, yi=yi, nz=nz):
            return _solve(kind, Ut, Hi, yi, nz, th, prior)

        if shared_lengthscale:  # θ = Tφ; the full loss counts the prior d times, φ once
            T = torch.zeros((J, 2), dtype=torch.float64)
            T[:d, 0] = 1.0
            T[d, 1] = 1.0
            phi = theta[[0, d]]

            def loss_of(ph, f=f, T=T):
                return f(T @ ph)[0] - (d - 1) * 0.5 * ((ph[0] - prior[0]) / prior[1]) ** 2
            free = _interior(phi, 1)
        else:
            T, phi = None, theta

            def loss_of(th, f=f):
                return f(th)[0]
            free = _interior(theta, d)
        try:
            loss = loss_of(phi)
            grad = torch.func.grad(loss_of)(phi)[free]
            hess = torch.func.hessian(loss_of)(phi)[free][:, free]
            w, E = torch.linalg.eigh(0.5 * (hess + hess.T))
            cov = torch.zeros((len(phi), len(phi)), dtype=torch.float64)
            cov[torch.outer(free, free)] = ((E / w.clamp_min(floor)) @ E.T).reshape(-1)
            da, db = torch.func.jacrev(lambda th, f=f: f(th)[1:])(theta)
        except (RuntimeError, ValueError) as exc:
            warnings.warn(f"latent output {i}: the covariance-parameter uncertainty could not "
                          f"be computed ({exc}); its variance is the plug-in one",
                          UserWarning, stacklevel=3)
            continue
        if not (torch.isfinite(cov).all() and torch.isfinite(da).all()
                and torch.isfinite(db).all()):
            continue
        # −log of the Laplace posterior mass around θ̂ (MacKay 1992: the density times the
        # Occam factor (2π)^{J/2} |∇²ℓ|^{−1/2}): ranks the restarts' modes
        out["neg_log_mass"][i] = float(loss + 0.5 * torch.log(w.clamp_min(floor)).sum()
                                       - 0.5 * len(w) * math.log(2 * math.pi)
                                       + _prior_constant(phi, d, prior, shared_lengthscale))
        if _rcond(kind, Ut, nz, theta) < MIN_RCOND:
            continue
        # Laplace needs a stationary point: a slope of more than one posterior s.d. per
        # log-unit means the fit stopped on a ridge (e.g. an ill-conditioned RBF level)
        sd = torch.sqrt(torch.diagonal(cov)[free].clamp_min(0.0))
        if torch.any(grad.abs() * sd > 1.0):
            continue
        out["theta_cov"][i] = (cov if T is None else T @ cov @ T.T).numpy()
        out["dalpha"][i] = da.T.numpy()
        out["dbeta"][i] = db.T.numpy()
    return out


def posterior_draws(kind: str, U: np.ndarray, H: np.ndarray, y: np.ndarray,
                    theta: np.ndarray, theta_cov: np.ndarray, nugget: np.ndarray,
                    shared_lengthscale: np.ndarray, draws: int, seed: int = 0,
                    prior: tuple[float, float] = LOG_LS_PRIOR
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Importance-weighted draws of ``θ`` from its posterior, per output: ``(m, K, J)``
    points and ``(m, K)`` weights summing to one.

    The proposal is the Laplace approximation ``N(θ̂, Σ_θ)`` (``theta (m, J)``,
    ``theta_cov (m, J, J)`` from :func:`parameter_sensitivity`), sampled on scrambled
    Sobol' normal quantiles (``seed``) in the directions ``Σ_θ`` spans; each draw is then
    weighted by the restricted posterior itself over the proposal's density
    (self-normalised importance sampling; Geweke 1989, Econometrica 57).  With 5 points the
    posterior is far from Gaussian in ``log ℓ`` (flat towards long lengthscales, steep
    towards short ones), and the weights correct the symmetric Laplace approximation
    where the first-order term of :func:`parameter_sensitivity` cannot.  Draws are
    clipped to the fit's bounds; a draw whose covariance matrix cannot be factorised gets
    weight 0 (and ``θ̂`` in its place); an output with ``Σ_θ = 0`` gets ``K`` copies of
    ``θ̂``.
    ``nugget (m,)`` is the noise-to-signal ratio, held fixed; ``shared_lengthscale (m,)``
    marks outputs whose ``d`` lengthscales are one parameter (one prior, not ``d``)."""
    from scipy.stats import norm, qmc

    m, J = theta.shape
    d = U.shape[1]
    lo = np.r_[[math.log(LENGTHSCALE_RANGE[0])] * d, math.log(OUTPUTSCALE_RANGE[0]),
               [LOG_WARP_RANGE[0]] * (J - d - 1)]
    hi = np.r_[[math.log(LENGTHSCALE_RANGE[1])] * d, math.log(OUTPUTSCALE_RANGE[1]),
               [LOG_WARP_RANGE[1]] * (J - d - 1)]
    Ut = torch.as_tensor(U, dtype=torch.float64)
    with warnings.catch_warnings():  # a K that is not a power of two only loses balance
        warnings.simplefilter("ignore", UserWarning)
        u = qmc.Sobol(J, scramble=True, seed=seed).random(draws)
    z_all = norm.ppf(u.clip(1e-9, 1 - 1e-9))
    points = np.repeat(theta[:, None, :], draws, axis=1)
    weights = np.full((m, draws), 1.0 / draws)
    for i in range(m):
        w, E = np.linalg.eigh(0.5 * (theta_cov[i] + theta_cov[i].T))
        keep = w > 1e-12 * max(w.max(), 1e-300)
        if not keep.any():
            continue
        z = z_all[:, :keep.sum()]
        pts = np.clip(theta[i] + (z * np.sqrt(w[keep])) @ E[:, keep].T, lo, hi)
        Hi = torch.as_tensor(H[i], dtype=torch.float64)
        yi = torch.as_tensor(y[i], dtype=torch.float64)
        logw = np.empty(draws)
        for k, th in enumerate(pts):
            try:
                with torch.no_grad():
                    loss = float(_solve(kind, Ut, Hi, yi, float(nugget[i]),
                                        torch.as_tensor(th), prior)[0])
            except (RuntimeError, ValueError):  # a draw whose K is not positive definite
                loss = math.inf
            if shared_lengthscale[i]:  # one lengthscale prior, not d
                loss -= (d - 1) * 0.5 * ((th[0] - prior[0]) / prior[1]) ** 2
            logw[k] = -loss + 0.5 * (z[k] ** 2).sum()
        if not np.isfinite(logw).any():
            continue
        ok = np.isfinite(logw)
        wk = np.where(ok, np.exp(np.where(ok, logw, 0.0) - logw[ok].max()), 0.0)
        points[i], weights[i] = np.where(ok[:, None], pts, theta[i]), wk / wk.sum()
    return points, weights
