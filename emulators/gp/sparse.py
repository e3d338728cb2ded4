"""Sparse GP for many runs: inducing points and the collapsed variational posterior.

With ``r`` inducing inputs ``Z`` (a maximin subset of the runs) and fixed hyperparameters,
the optimal variational distribution of the inducing values is closed form (Titsias 2009,
eq. 10–11): ``Σ = (K_zz + σ⁻² K_zx K_xz)⁻¹``, and the predictive distribution is

.. math::
    μ_* = c + σ^{-2} k_{*z} Σ K_{zx} (y - c), \\quad
    σ_*^2 = k_{**} - k_{*z} K_{zz}^{-1} k_{z*} + k_{*z} Σ k_{z*} + σ_n^2

(the same arithmetic as gpytorch's ``SGPR``/``InducingPointKernel``), computed stably as in
GPflow's SGPR: ``L = chol(K_zz)``, ``A = L⁻¹K_zx/σ``, ``L_B = chol(I + AAᵀ)``.  Cost
``O(n r²)``; it exports to the runtime's GP predictor with ``train_u = Z``,
``L_inv = L⁻¹``, ``alpha = L⁻ᵀL_B⁻ᵀL_B⁻¹A(y − c)/σ`` and ``var_add = L_B⁻¹L⁻¹``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from emulators.gp.hyper import Hyper, maximin_subset
from emulators.runtime.gp import kernel_matrix

#: Relative diagonal jitter of ``K_zz`` (inducing points may nearly coincide).
JITTER = 1e-8


def sparse_arrays(U: np.ndarray, Z: np.ndarray, hypers: list[Hyper], kernel: str, *,
                  inducing: int, novelty_factor: float, rng: np.random.Generator,
                  prefix: str = "gp.") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Runtime arrays of the sparse GP (see the module docstring) and its card entries.

    ``U (n, d)`` unit-cube runs, ``Z (n, m)`` standardised outputs.
    """
    n, d = U.shape
    m = Z.shape[1]
    idx = maximin_subset(U, min(inducing, n), rng)
    Zu = U[idx]
    r = len(idx)
    ls = np.stack([h.lengthscale for h in hypers])
    os_ = np.array([h.outputscale for h in hypers])
    noise = np.array([h.noise for h in hypers])
    const = np.array([h.mean for h in hypers])
    L_inv = np.empty((m, r, r))
    var_add = np.empty((m, r, r))
    alpha = np.empty((m, r))
    eye = np.eye(r)
    thresholds = []
    probe = rng.choice(n, size=min(n, 2000), replace=False)
    for j in range(m):
        Kzz = kernel_matrix(kernel, Zu, Zu, ls[j:j + 1], os_[j:j + 1])[0]
        L = linalg.cholesky(Kzz + JITTER * os_[j] * eye, lower=True, check_finite=False)
        Li = linalg.solve_triangular(L, eye, lower=True, check_finite=False)
        sigma = np.sqrt(noise[j])
        B = eye.copy()
        Ay = np.zeros(r)
        for s in range(0, n, 4096):  # K_zx in blocks: memory O(r · 4096)
            Kzx = kernel_matrix(kernel, Zu, U[s:s + 4096], ls[j:j + 1], os_[j:j + 1])[0]
            A = Li @ Kzx / sigma
            B += A @ A.T
            Ay += A @ (Z[s:s + 4096, j] - const[j]) / sigma
        LB = linalg.cholesky(B, lower=True, check_finite=False)
        LBi = linalg.solve_triangular(LB, eye, lower=True, check_finite=False)
        c = LBi @ Ay
        alpha[j] = Li.T @ (LBi.T @ c)
        L_inv[j] = Li
        var_add[j] = LBi @ Li
        A = U[probe] / ls[j]
        s2 = np.einsum("nd,nd->n", A, A)
        full = U / ls[j]
        best = np.full(len(probe), np.inf)
        for s in range(0, n, 4096):
            F = full[s:s + 4096]
            r2 = s2[:, None] + np.einsum("nd,nd->n", F, F)[None, :] - 2 * A @ F.T
            r2[probe[:, None] == np.arange(s, s + len(F))[None, :]] = np.inf
            best = np.minimum(best, r2.min(axis=1))
        thresholds.append(float(novelty_factor * np.quantile(np.sqrt(np.maximum(best, 0)),
                                                             0.95)))
    arrays = {"train_u": Zu, "lengthscale": ls, "outputscale": os_, "noise": noise,
              "mean": const, "alpha": alpha, "L_inv": L_inv, "var_add": var_add,
              "var_scale": np.ones(m), "design_u": U}
    card = {
        "inducing": True,
        "sparse": {"method": "collapsed variational (Titsias 2009), inducing points a "
                             "maximin subset of the runs", "inducing_points": r, "runs": n},
        "calibration": {"method": "none",
                        "note": "no closed-form leave-one-out for the sparse GP"},
        "novelty": {"metric": "distance to the nearest training run in lengthscale units",
                    "factor": novelty_factor, "threshold": thresholds},
    }
    return {prefix + k: v for k, v in arrays.items()}, card
