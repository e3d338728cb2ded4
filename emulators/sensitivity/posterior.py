"""Posterior function draws of a GP emulator at thousands of points, cheaply.

Sobol' indices over the emulator's posterior (Oakley & O'Hagan 2004, JRSS B 66:751;
Marrel et al. 2009, Reliab Eng Syst Saf 94:742) need whole *functions* drawn from the
posterior, evaluated on a Saltelli design of ``N (d + 2)`` points — far too many for a joint
Cholesky draw (``O(q³)``).  :class:`PathwiseSampler` uses pathwise conditioning
(Wilson et al. 2020, ICML, eq. (4), "Matheron's rule"):

    f_post(·) = f_prior(·) + k(·, X) (K + σ_n² I)⁻¹ (y − f_prior(X) − ε),   ε ~ N(0, σ_n² I)

            = μ_post(·) + f_prior(·) − k(·, X) (K + σ_n² I)⁻¹ (f_prior(X) + ε)

with ``f_prior`` a random-Fourier-feature draw (Rahimi & Recht 2007):
``f_prior(u) = σ √(2/F) Σ_k w_k cos(ω_k·u + b_k)``, ``w ~ N(0, 1)``, ``b ~ U(0, 2π)``,
``ω = z / ℓ`` with ``z ~ N(0, I)`` for the RBF kernel and a multivariate Student-t of
``2ν`` degrees of freedom for Matérn-ν (R&W 2006 eq. 4.15).  The cost is
``O(q (F + n))`` per draw instead of ``O(q³)``.

Error: the only approximation is the prior's kernel, replaced by its ``F``-feature Monte
Carlo estimate (entries with a standard deviation of at most ``σ² / √F``).  For the RBF
kernel, whose spectrum has Gaussian tails, conditioning removes almost all of it: on the
test GP of ``tests/emulators/test_sensitivity_posterior.py`` the draws' posterior
covariance is within 3% of the exact one (of the largest posterior variance) and their
standard deviations within 2%.  For Matérn kernels it does not: the posterior variance of
a rough, well-trained GP lives in the far tail of the Student-t spectrum, which ``F``
features rarely sample, and the draws' standard deviations come out 2–3× too small.  So
:func:`draws` uses pathwise conditioning for RBF GPs only, and for Matérn GPs exact joint
draws (:func:`joint_draws`, a Cholesky factor of the posterior covariance) on a design
kept to about 2000 points.  Either way the draws are of the noise-free latent function,
so no observation noise leaks into the indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Rows of the feature matrix evaluated at once (bounds the temporaries to ~32 MB).
_CHUNK = 4096

#: Matérn smoothness of each kernel name of the runtime (``None``: the RBF kernel).
_NU = {"rbf": None, "matern52": 2.5, "matern32": 1.5}


def gp_predictor(emulator: Any) -> Any | None:
    """The exact-GP predictor behind an in-memory or runtime emulator, or ``None``."""
    from emulators.runtime.gp import GPPredictor

    for attr in ("predictor", "_predictor"):
        p = getattr(emulator, attr, None)
        if isinstance(p, GPPredictor):
            return p
    return None


class PathwiseSampler:
    """``n_draws`` posterior functions of every latent output of a GP predictor.

    Parameters
    ----------
    predictor : emulators.runtime.gp.GPPredictor
        The exact GP (training inputs ``U (n, d)`` on the unit cube, ``alpha``, ``L_inv``...).
    n_draws : int
        Number of posterior functions ``S``.
    n_features : int
        Random Fourier features ``F`` of the prior draw (error ∝ ``1/√F``, module doc).
    seed : int or Generator, optional

    Calling the sampler on unit-cube points ``U (q, d)`` returns the draws' values
    ``(S, q, m)``; calls at different points evaluate the *same* functions.
    """

    def __init__(self, predictor: Any, n_draws: int, *, n_features: int = 1024,
                 seed: int | np.random.Generator | None = None):
        if predictor.kernel not in _NU:
            raise ValueError(f"no spectral density for kernel {predictor.kernel!r}; "
                             f"known: {', '.join(_NU)}")
        if n_draws < 1 or n_features < 1:
            raise ValueError(f"n_draws and n_features must be >= 1, got {n_draws}, "
                             f"{n_features}")
        rng = np.random.default_rng(seed)
        self.p = predictor
        self.n_draws, self.n_features = int(n_draws), int(n_features)
        n, d = predictor.U.shape
        m = predictor.n_latent
        nu = _NU[predictor.kernel]
        F, S = self.n_features, self.n_draws
        self.omega = np.empty((m, F, d))
        self.phase = rng.uniform(0.0, 2 * np.pi, (m, F))
        self.weights = rng.standard_normal((m, F, S))
        self.update = np.empty((m, n, S))  # (K + σ_n² I)⁻¹ (f_prior(X) + ε)
        for j in range(m):
            z = rng.standard_normal((F, d))
            if nu is not None:  # multivariate t_{2ν}: N(0, I) / sqrt(χ²_{2ν} / 2ν)
                z /= np.sqrt(rng.chisquare(2 * nu, (F, 1)) / (2 * nu))
            self.omega[j] = z / predictor.lengthscale[j]
            prior_x = self._prior(j, predictor.U)  # (n, S)
            eps = rng.standard_normal((n, S)) * np.sqrt(predictor.noise[j])
            Li = predictor.L_inv[j]
            self.update[j] = Li.T @ (Li @ (prior_x + eps))

    def _prior(self, j: int, U: np.ndarray) -> np.ndarray:
        """Prior draws of latent output ``j`` at ``U``: ``(q, S)``."""
        scale = np.sqrt(2.0 * self.p.outputscale[j] / self.n_features)
        phi = np.cos(U @ self.omega[j].T + self.phase[j])
        return scale * (phi @ self.weights[j])

    def __call__(self, U: np.ndarray) -> np.ndarray:
        from emulators.runtime.gp import kernel_matrix

        U = np.atleast_2d(np.asarray(U, dtype=float))
        p = self.p
        m = p.n_latent
        out = np.empty((self.n_draws, len(U), m))
        for start in range(0, len(U), _CHUNK):
            Uc = U[start:start + _CHUNK]
            mean, _ = p(Uc)  # (q, m)
            Ks = kernel_matrix(p.kernel, p.U, Uc, p.lengthscale, p.outputscale)  # (m, n, q)
            for j in range(m):
                draw = mean[:, j, None] + self._prior(j, Uc) - Ks[j].T @ self.update[j]
                out[:, start:start + len(Uc), j] = draw.T
        return out


def joint_draws(predictor: Any, U: np.ndarray, n_draws: int,
                rng: np.random.Generator) -> np.ndarray:
    """Exact joint posterior draws ``(S, q, m)`` of the latent functions at ``U (q, d)``
    (``O(q³)`` per latent output: keep ``q`` in the low thousands).  A jitter of at most
    1e-8 of the signal variance is added if the covariance is numerically singular."""
    from emulators.runtime.gp import kernel_matrix

    p = predictor
    mean, _ = p(U)
    q, m = len(U), p.n_latent
    out = np.empty((n_draws, q, m))
    for j in range(m):
        ls, os_ = p.lengthscale[j:j + 1], p.outputscale[j:j + 1]
        V = p.L_inv[j] @ kernel_matrix(p.kernel, p.U, U, ls, os_)[0]
        C = kernel_matrix(p.kernel, U, U, ls, os_)[0] - V.T @ V
        del V
        L = None
        for jitter in (0.0, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8):
            try:
                L = np.linalg.cholesky(C + (jitter * os_[0]) * np.eye(q))
                break
            except np.linalg.LinAlgError:
                continue
        if L is None:  # an indefinite covariance from round-off: a clipped eigen-root
            w, E = np.linalg.eigh(C)
            L = E * np.sqrt(np.clip(w, 0.0, None))
        out[:, :, j] = mean[:, j] + (L @ rng.standard_normal((q, n_draws))).T
    return out


def draws(emulator: Any, X: np.ndarray, n_draws: int, *, n_features: int = 1024,
          seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, str]:
    """``n_draws`` posterior functions of ``emulator`` at physical ``X (q, d)``, mapped to
    physical output columns: ``((S, q, columns), method)``.

    RBF GPs (in memory or loaded from a file) use :class:`PathwiseSampler`; other exact GPs
    :func:`joint_draws`; any other emulator with ``sample`` gets joint draws from it (exact,
    ``O(q³)``: keep ``q`` in the low thousands).
    """
    p = gp_predictor(emulator)
    if p is not None and p.kernel != "rbf":
        U = emulator.space.to_unit(emulator.space.check(X))
        Z = joint_draws(p, U, n_draws, np.random.default_rng(seed))
        zeros = np.zeros_like(Z[0])
        return (np.stack([emulator.outputs.inverse(z, zeros)[0] for z in Z]),
                "exact joint draws (Cholesky of the posterior covariance)")
    if p is not None:
        U = emulator.space.to_unit(emulator.space.check(X))
        Z = PathwiseSampler(p, n_draws, n_features=n_features, seed=seed)(U)
        zeros = np.zeros_like(Z[0])
        Y = np.stack([emulator.outputs.inverse(z, zeros)[0] for z in Z])
        return Y, f"pathwise conditioning, {n_features} random Fourier features"
    sampler = getattr(emulator, "sample", None)
    if sampler is None:
        raise TypeError(f"{type(emulator).__name__} cannot draw posterior functions: it "
                        f"has no sample(X, n) and is not an exact GP")
    Y = np.asarray(sampler(X, n_draws, seed=seed), dtype=float)
    return Y.reshape(Y.shape[0], Y.shape[1], -1), "joint draws from the emulator's sample()"


def mean_function(emulator: Any):
    """``f(X) -> (q, columns)``: the emulator's mean in physical units.  For exact GPs it
    skips the predictive variance (``μ = c + k*ᵀα`` only, the predictor's own arrays):
    at a Saltelli design the variance is most of ``predict``'s cost and is not needed."""
    from emulators.runtime.gp import kernel_matrix

    p = gp_predictor(emulator)

    def predict_mean(X: np.ndarray) -> np.ndarray:
        return np.asarray(emulator.predict(X)[0], dtype=float).reshape(len(X), -1)

    if p is None:
        return predict_mean

    def gp_mean(X: np.ndarray) -> np.ndarray:
        U = emulator.space.to_unit(emulator.space.check(X))
        Z = np.empty((len(U), p.n_latent))
        for start in range(0, len(U), _CHUNK):
            Uc = U[start:start + _CHUNK]
            Ks = kernel_matrix(p.kernel, p.U, Uc, p.lengthscale, p.outputscale)
            Z[start:start + len(Uc)] = (p.const[:, None]
                                        + np.einsum("mn,mnq->mq", p.alpha, Ks)).T
        return emulator.outputs.inverse(Z, np.zeros_like(Z))[0]

    return gp_mean
