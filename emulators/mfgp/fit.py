"""Fit one fidelity level: L-BFGS on the restricted likelihood, from several starts.

A function, kept apart from the model (STYLE §1); it returns the level's posterior
arrays in the layout :mod:`emulators.runtime.mfgp` reads.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from emulators.gp.fit import FitReport, minimise
from emulators.gp.hyper import neighbour_spacing
from emulators.mfgp.model import (
    LOG_LS_PRIOR,
    LOG_WARP_RANGE,
    LevelModel,
    gls,
    initialise,
    restricted_nll,
)
from emulators.mfgp.plugin import _cov, parameter_sensitivity, posterior_draws


def fit_level(U: np.ndarray, H: np.ndarray, y: np.ndarray, *, kernel: str,
              F: np.ndarray | None = None, restarts: int = 3, max_iter: int = 200,
              tol: float = 1e-9, noise_floor: float = 1e-6, delta_scale: float = 1.0,
              calibrate: str | None = None, parameter_uncertainty: bool = True,
              warp: bool = False, shared_lengthscale: bool = False, seed: int | None = 0
              ) -> tuple[dict[str, np.ndarray], list[FitReport]]:
    """Fit a level on unit-cube ``U (n, d)``, regressors ``H (m, n, p)``, targets ``y (m, n)``
    (and lower-level values ``F (m, n)`` for a nonlinear level); keep each output's best
    start; ``calibrate="loo"`` then scales its variances by :func:`loo_variance_factor`,
    ``"t"`` by :func:`student_t_factor`, ``None`` keeps the REML plug-in; ``warp`` learns a
    Kumaraswamy warping of each input (:func:`~emulators.mfgp.model.kumaraswamy`);
    ``shared_lengthscale`` gives ``k_δ`` one lengthscale for all inputs.
    Returns the arrays (unprefixed keys) and one report per start."""
    n, d = U.shape
    m = y.shape[0]
    Ut = torch.as_tensor(U, dtype=torch.float64)
    Ht = torch.as_tensor(H, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    Ft = None if F is None else torch.as_tensor(F, dtype=torch.float64)
    prior = LOG_LS_PRIOR
    model = LevelModel(kernel, d, m, noise_floor, nonlinear=F is not None, ls_prior=prior,
                       warp=warp, shared_lengthscale=shared_lengthscale)
    gen = torch.Generator().manual_seed(seed if seed is not None else 0)

    def loss() -> torch.Tensor:
        return restricted_nll(model, Ut, Ft, Ht, yt)

    # with 5 points the restricted likelihood has several modes: rank the restarts by the
    # posterior mass around each (Laplace), not the density at it, so a sharp spurious mode
    # (one short lengthscale threading the points) does not win over a broad one
    laplace = parameter_uncertainty and F is None and H.shape[2] > 1
    # a start at the design's neighbour spacing: random starts in [0.05, 2] can all miss a
    # short period (Perdikaris's f_l = sin 8πx on 50 points: a constant fit from 3 starts)
    spacing = neighbour_spacing(U)
    best = torch.full((m,), float("inf"), dtype=torch.float64)
    best_state = None
    reports = []
    for r in range(restarts):
        initialise(model, r, gen, delta_scale, spacing=spacing)
        report = minimise([p for p in model.parameters() if p.requires_grad], loss,
                          max_iter=max_iter, tol=tol)
        reports.append(report)
        now = torch.tensor(report.loss if len(report.loss) == m else [float("nan")] * m,
                           dtype=torch.float64)
        if laplace and torch.isfinite(now).any():
            now = torch.where(torch.isfinite(mass := _neg_log_mass(model, Ut, H, y, prior)),
                              mass, now)
        better = torch.isfinite(now) & (now < best)
        if best_state is None:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for k, v in model.state_dict().items():
            if v.dim() >= 1 and v.shape[0] == m:
                best_state[k][better] = v.detach()[better]
        best = torch.where(better, now, best)
    if not torch.isfinite(best).all():
        bad = torch.nonzero(~torch.isfinite(best)).ravel().tolist()
        raise ValueError(f"the fit of a fidelity level failed for latent outputs {bad} from "
                         f"every start ({reports[-1].message}); check for duplicated inputs "
                         f"with different outputs, or raise noise_floor")
    model.load_state_dict(best_state)
    if calibrate == "loo":
        _scale_variance(model, loo_variance_factor(model, Ut, Ft, Ht, yt))
    elif calibrate == "t":
        _scale_variance(model, student_t_factor(n - H.shape[2]))
    arrays = posterior_arrays(model, Ut, Ft, Ht, yt)
    if parameter_uncertainty and F is None:
        sens = parameter_sensitivity(kernel, U, H, y, arrays["lengthscale"],
                                     arrays["outputscale"], arrays["noise"], prior,
                                     warp=(arrays["warp_a"], arrays["warp_b"]) if warp
                                     else None, shared_lengthscale=shared_lengthscale)
        sens.pop("neg_log_mass")
        arrays.update(sens)
    return arrays, reports


def loo_errors(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Leave-one-out residuals ``(m, n)`` of a fitted level, closed form with β by GLS
    (Dubrule 1983): ``e_i = (P y)_i / P_ii`` with ``P = K⁻¹ − K⁻¹H (HᵀK⁻¹H)⁻¹ HᵀK⁻¹``,
    and ``P y = α`` (the stored ``K⁻¹(y − Hβ̂)``)."""
    Li = arrays["L_inv"]
    Kinv_diag = np.einsum("mki,mki->mi", Li, Li)
    KinvH = np.einsum("mki,mkp->mip", Li, arrays["LinvH"])  # K⁻¹H (m, n, p)
    P_diag = Kinv_diag - np.einsum("mip,mpr,mir->mi", KinvH, arrays["beta_cov"], KinvH)
    return arrays["alpha"] / P_diag


def select_by_loo(plain: dict[str, np.ndarray], warped: dict[str, np.ndarray]
                  ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per output, the fit with the smaller leave-one-out mean squared error: the plain
    stationary one or the input-warped one (Snoek et al. 2014).  Cross-validation, not the
    likelihood, picks the covariance model: it is robust to a misspecified kernel, where
    the likelihood is not (Bachoc 2013, Comput. Stat. Data Anal. 66).  Returns the merged
    arrays (identity warping ``a = b = 1`` for plain outputs; no warping arrays when none
    is warped) and the mask of warped outputs ``(m,)``."""
    use = (loo_errors(warped) ** 2).mean(-1) < (loo_errors(plain) ** 2).mean(-1)
    if not use.any():
        return plain, use
    out = _merge(plain, warped, use)
    for k in ("warp_a", "warp_b"):
        out[k] = np.where(use[:, None], warped[k], 1.0)
    return out, use


def select_by_evidence(ard: dict[str, np.ndarray], shared: dict[str, np.ndarray],
                       U: np.ndarray, H: np.ndarray, y: np.ndarray, kernel: str
                       ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per output, ``k_δ`` with one lengthscale per input (``ard``) or one shared by all
    (``shared``), whichever has the larger Laplace evidence (MacKay 1992, Neural Comput. 4:
    the likelihood times an Occam factor, so ``d − 1`` extra lengthscales must earn their
    keep; with 5 points in 4D they rarely do).  Both fits are on ``U (n, d)``,
    ``H (m, n, p)``, ``y (m, n)``.  Returns the merged arrays and the mask of outputs that
    share one lengthscale ``(m,)``."""
    def evidence(a, is_shared):
        return parameter_sensitivity(kernel, U, H, y, a["lengthscale"], a["outputscale"],
                                     a["noise"], LOG_LS_PRIOR,
                                     shared_lengthscale=is_shared)["neg_log_mass"]

    e_ard, e_shared = evidence(ard, False), evidence(shared, True)
    use = np.isfinite(e_shared) & ~(e_ard <= e_shared)
    return (_merge(ard, shared, use) if use.any() else ard), use


def _merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray], use: np.ndarray
           ) -> dict[str, np.ndarray]:
    """Per output (the leading axis), ``b``'s arrays where ``use``, else ``a``'s; an array
    of ``a`` smaller than ``b``'s (θ-sized arrays of a level without warping) is padded
    with zeros (no uncertainty in the parameters it lacks)."""
    out = {}
    for k, v in a.items():
        if k == "train_u":
            out[k] = v
            continue
        w = b[k]
        if w.shape != v.shape:
            v = np.pad(v, [(0, s - t) for s, t in zip(w.shape, v.shape, strict=True)])
        out[k] = np.where(use.reshape((-1,) + (1,) * (v.ndim - 1)), w, v)
    return out


def _neg_log_mass(model: LevelModel, U: torch.Tensor, H: np.ndarray, y: np.ndarray,
                  prior: tuple[float, float]) -> torch.Tensor:
    """Per-point −log Laplace posterior mass of the current fit, one per output ``(m,)``
    (``inf`` where it cannot be formed); see :func:`parameter_sensitivity`."""
    with torch.no_grad():
        out = parameter_sensitivity(model.kind, U.numpy(), H, y,
                                    model.delta_lengthscale().numpy(),
                                    model.delta.outputscale.reshape(-1).numpy(),
                                    model.noise.reshape(-1).numpy(), prior,
                                    shared_lengthscale=model.shared_lengthscale)
    return torch.as_tensor(out["neg_log_mass"] / U.shape[0], dtype=torch.float64)


def loo_variance_factor(model: LevelModel, U: torch.Tensor, F: torch.Tensor | None,
                        H: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-validation estimate of the variance scale, ``c = mean_i e_i² / s_i²`` over
    leave-one-out residuals ``e_i`` and variances ``s_i²`` (Bachoc 2013, Comput. Stat. Data
    Anal. 66, eq. 7: robust to a misspecified covariance, where ML/REML are not), one per
    output ``(m,)``.  With β by GLS the leave-one-out quantities are closed-form
    (Dubrule 1983): ``e_i = (P y)_i / P_ii``, ``s_i² = 1 / P_ii`` with
    ``P = K⁻¹ − K⁻¹H (HᵀK⁻¹H)⁻¹ HᵀK⁻¹``."""
    with torch.no_grad():
        s = gls(model.covariance(U, F), model.noise, H, y)
        n = U.shape[0]
        eye = torch.eye(n, dtype=torch.float64).expand_as(s["L"])
        L_inv = torch.linalg.solve_triangular(s["L"], eye, upper=False)
        proj = eye - s["A"] @ torch.linalg.solve(s["G"], s["A"].transpose(-1, -2))
        P = L_inv.transpose(-1, -2) @ proj @ L_inv
        Py = (L_inv.transpose(-1, -2) @ s["r"].unsqueeze(-1)).squeeze(-1)
        diag = torch.diagonal(P, dim1=-2, dim2=-1).clamp_min(1e-300)
        return (Py**2 / diag).mean(-1)


def student_t_factor(dof: int) -> float:
    """``(t_{ν, 0.975} / z_{0.975})²``: the variance factor that turns a Gaussian 95%
    interval into the Student-t one of a level whose signal variance is estimated from
    ``ν = n − p`` residual degrees of freedom (Le Gratiet & Garnier 2014, §3.3; Santner et
    al. 2003, §4.1.3: with σ² integrated out under its reference prior the predictive is
    Student-t with ``n − p`` degrees of freedom)."""
    from scipy.stats import norm, t

    dof = max(int(dof), 1)
    return float((t.ppf(0.975, dof) / norm.ppf(0.975)) ** 2)


def _scale_variance(model: LevelModel, c: float | torch.Tensor) -> None:
    """``K → c K`` (signal and noise variances): the posterior mean is unchanged and
    every variance term is multiplied by ``c``."""
    with torch.no_grad():
        kernels = [model.delta] + ([model.rho] if model.nonlinear else [])
        for k in kernels:
            top = 0.999 * k.raw_outputscale_constraint.upper_bound
            k.outputscale = (k.outputscale * c).clamp(min=1.001 * k.raw_outputscale_constraint
                                                      .lower_bound, max=top)
        model.raw_noise.copy_(model.noise_constraint.inverse_transform(
            (model.noise * c).clamp(min=1.001 * model.noise_constraint.lower_bound,
                                    max=0.999 * model.noise_constraint.upper_bound)))


def posterior_arrays(model: LevelModel, U: torch.Tensor, F: torch.Tensor | None,
                     H: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """GLS posterior of a fitted level (Le Gratiet & Garnier 2014 eq. 3.4–3.8)."""
    with torch.no_grad():
        s = gls(model.covariance(U, F), model.noise, H, y)
        n = U.shape[0]
        eye = torch.eye(n, dtype=torch.float64).expand_as(s["L"])
        L_inv = torch.linalg.solve_triangular(s["L"], eye, upper=False)
        alpha = (L_inv.transpose(-1, -2) @ s["r"].unsqueeze(-1)).squeeze(-1)
        beta = s["beta"]
        out = {
            "train_u": U.numpy(),
            "lengthscale": model.delta_lengthscale().numpy(),
            "outputscale": model.delta.outputscale.reshape(-1).numpy(),
            "noise": model.noise.reshape(-1).numpy(),
            "mean": beta[:, -1].numpy(),
            "alpha": alpha.numpy(),
            "L_inv": torch.tril(L_inv).numpy(),
            "LinvH": s["A"].numpy(),
            "beta_cov": torch.linalg.inv(s["G"]).numpy(),
        }
        if beta.shape[1] > 1:
            out["rho"] = beta[:, :-1].numpy()
        if model.warp:
            out["warp_a"] = torch.exp(model.log_warp_a.clamp(*LOG_WARP_RANGE)).numpy()
            out["warp_b"] = torch.exp(model.log_warp_b.clamp(*LOG_WARP_RANGE)).numpy()
        if model.nonlinear:
            out["train_f"] = F.numpy()
            out["rho_lengthscale"] = model.rho.base_kernel.lengthscale.reshape(model.m,
                                                                               -1).numpy()
            out["rho_outputscale"] = model.rho.outputscale.reshape(-1).numpy()
            out["f_lengthscale"] = model.f.lengthscale.reshape(-1).numpy()
        return {k: np.ascontiguousarray(v, dtype=np.float64).copy() for k, v in out.items()}


def draw_arrays(kind: str, U: np.ndarray, H: np.ndarray, y: np.ndarray,
                arrays: dict[str, np.ndarray], shared: np.ndarray, draws: int,
                seed: int = 0) -> dict[str, np.ndarray]:
    """The level's posterior at ``draws`` importance-weighted draws of its covariance
    parameters (:func:`~emulators.mfgp.plugin.posterior_draws`), in the runtime's layout
    with the draws folded into the output axis (row ``i·K + k`` is output ``i``'s draw
    ``k``) and ``weight (m, K)``; ``arrays`` is the fitted level (``θ̂``, ``theta_cov``),
    ``shared (m,)`` marks outputs with one lengthscale for all inputs."""
    m, n = y.shape
    d = U.shape[1]
    warped = "warp_a" in arrays
    theta = np.concatenate([np.log(arrays["lengthscale"]), np.log(arrays["outputscale"])[:, None]]
                           + ([np.log(arrays["warp_a"]), np.log(arrays["warp_b"])] if warped
                              else []), axis=1)
    J = theta.shape[1]
    cov = arrays.get("theta_cov", np.zeros((m, J, J)))
    nugget = arrays["noise"] / arrays["outputscale"]
    points, weights = posterior_draws(kind, U, H, y, theta, cov, nugget, shared, draws, seed)
    Ut = torch.as_tensor(U, dtype=torch.float64)
    eye = np.eye(n)
    rows: dict[str, list[np.ndarray]] = {}

    def factor(th, i):
        with torch.no_grad():
            K = _cov(kind, Ut, torch.as_tensor(th)).numpy()
        return np.linalg.cholesky(K + nugget[i] * math.exp(th[d]) * eye)

    for i in range(m):
        for k, th in enumerate(points[i]):
            try:
                L = factor(th, i)
            except np.linalg.LinAlgError:  # numpy refuses what torch factorised: drop it
                weights[i, k] = 0.0
                th = points[i, k] = theta[i]
                L = factor(th, i)
            s2 = math.exp(th[d])
            L_inv = np.tril(scipy.linalg.solve_triangular(L, eye, lower=True))
            A = L_inv @ H[i]
            G = A.T @ A
            beta = np.linalg.solve(G, A.T @ (L_inv @ y[i]))
            row = {"lengthscale": np.exp(th[:d]), "outputscale": np.array(s2),
                   "noise": np.array(nugget[i] * s2), "mean": np.array(beta[-1]),
                   "alpha": L_inv.T @ (L_inv @ (y[i] - H[i] @ beta)), "L_inv": L_inv,
                   "LinvH": A, "beta_cov": np.linalg.inv(G)}
            if len(beta) > 1:
                row["rho"] = beta[:-1]
            if warped:
                row["warp_a"], row["warp_b"] = np.exp(th[d + 1:2 * d + 1]), np.exp(th[2 * d + 1:])
            for k, v in row.items():
                rows.setdefault(k, []).append(v)
    out = {k: np.ascontiguousarray(np.stack(v), dtype=np.float64) for k, v in rows.items()}
    out["train_u"] = np.ascontiguousarray(U, dtype=np.float64).copy()
    total = weights.sum(1, keepdims=True)  # 0 only if every draw failed: all are θ̂ then
    out["weight"] = np.where(total > 0, weights / np.where(total > 0, total, 1.0), 1.0 / draws)
    return out
