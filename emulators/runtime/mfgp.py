"""Multi-fidelity GP predictor from exported arrays (numpy only).

Levels ``t = 0 … L−1``, lowest fidelity first; each level is one prefixed block
``mf.<t>.`` read by :class:`~emulators.runtime.gp.GPPredictor` (schema checks included),
plus the arrays of the model that links it to the level below.

**Linear autoregressive levels** (Kennedy & O'Hagan 2000, eq. 2):
``f_t(x) = ρ_t(x) f_{t−1}(x) + δ_t(x)`` with ``ρ_t(x) = g(x)ᵀβ_ρ`` (``g = [1]`` or
``[1, u_1 … u_d]``) and ``δ_t`` a GP with constant mean ``β_δ``.  The regression
coefficients ``β = [β_ρ, β_δ]`` are the generalised-least-squares estimates of the recursive
formulation (Le Gratiet & Garnier 2014, eq. 3.4–3.8), so with ``h(x) = [g(x) μ_{t−1}(x), 1]``
(their eq. 3.6 uses the lower level's mean there) the level-``t`` mean and variance are

.. math::
    μ_t = ρ̂_t μ_{t−1} + β̂_δ + k_*ᵀ α, \\qquad
    σ_t^2 = ρ̂_t^2 σ_{t−1}^2 + σ_δ^2 + r^ᵀ (Hᵀ K^{-1} H)^{-1} r + g^ᵀ C_{ρρ} g\\, σ_{t−1}^2

with ``σ_δ² = k** − k*ᵀK⁻¹k*`` (+ noise at the top level), ``r = h − HᵀK⁻¹k*`` (the
universal-kriging term for the estimated β, R&W 2006 eq. 2.42; Le Gratiet & Garnier
eq. 3.8) and ``C_ρρ`` the GLS covariance of ``β_ρ``, whose last term carries the
uncertainty of ρ̂ times that of ``f_{t−1}`` (it vanishes where the lower level is known).
Level 0 is the same with ``h = [1]`` (ordinary kriging).  Where a level stores
``theta_cov``, ``σ_t²`` also gets ``∇_θ μ_tᵀ Σ_θ ∇_θ μ_t``, the spread of the predictor
over the posterior of the estimated lengthscales and signal variance (Kackar & Harville
1984; Harville & Jeske 1992; see :mod:`emulators.mfgp.plugin`).  A level that stores
draws of those parameters instead (``mf.<t>.draws.*``, the default since format 1.2) is
predicted as the weighted mixture of the level's GP at each draw ``θ_k`` (Bayesian model
averaging over ``θ``): ``μ_t = Σ_k w_k μ_t(θ_k)``,
``σ_t² = Σ_k w_k (σ_t²(θ_k) + (μ_t(θ_k) − μ_t)²)``, each term given the lower level's
mean and variance as above.

**Nonlinear levels** (Perdikaris et al. 2017, eq. 4–5, "NARGP"): level ``t`` is a GP on
``[x, f_{t−1}(x)]`` with kernel ``k_ρ(x, x') k_f(f, f') + k_δ(x, x')``; its predictive
mean and variance integrate over the lower level's posterior by Monte Carlo (their eq. 6)
on the fixed standard-normal draws stored in ``mf.eps`` (so predictions are
deterministic): ``μ = mean_s μ_s``, ``σ² = mean_s σ_s² + var_s μ_s``.

Arrays (``m`` latent outputs, ``n_t`` points of level ``t``, ``d`` inputs, ``p`` regressors):

* every level ``mf.<t>.``: GPPredictor's ``train_u (n_t, d)``, ``lengthscale (m, d)``,
  ``outputscale (m,)``, ``noise (m,)``, ``mean (m,)`` (β_δ), ``alpha (m, n_t)``,
  ``L_inv (m, n_t, n_t)``; ``LinvH (m, n_t, p)`` (``L⁻¹H``) and ``beta_cov (m, p, p)``;
* linear level ``t ≥ 1``: ``rho (m, p−1)`` (β_ρ);
* optional, linear levels and level 0: ``theta_cov (m, d+1, d+1)`` (``Σ_θ`` of
  ``θ = (log ℓ, log σ²)``), ``dalpha (m, d+1, n_t)`` and ``dbeta (m, d+1, p)``
  (``∂α/∂θ``, ``∂β̂/∂θ``);
* optional, level 0 only: ``warp_a (m, d)``, ``warp_b (m, d)``, the shapes of a
  Kumaraswamy input warping ``w(u) = 1 − (1 − u^a)^b`` (Snoek et al. 2014) applied to
  training and query inputs before level 0's kernel (``a = b = 1``: no warping);
* optional, linear levels and level 0: ``draws.weight (m, K)`` (non-negative, each row
  summing to one) and, under ``mf.<t>.draws.``, the level's own arrays at ``K`` draws of
  its covariance parameters with the draws folded into the output axis (``m·K`` rows,
  row ``i·K + k`` is output ``i``'s draw ``k``; :func:`emulators.mfgp.fit.draw_arrays`);
* nonlinear level ``t ≥ 1``: ``train_f (m, n_t)`` (the lower level's latent values at the
  training points), ``rho_lengthscale (m, d)``, ``rho_outputscale (m,)``,
  ``f_lengthscale (m,)``; ``lengthscale``/``outputscale`` are those of ``k_δ``;
* nonlinear models: ``mf.eps (L−1, S)``, the fixed draws.

Card (``model``; the runtime reads ``levels``, ``blocks[...]["kernel"]`` and
``blocks[...]["type"]``, the rest documents the fit)::

    {"levels": L, "link": "linear" | "nonlinear", "rho": "constant" | "linear" (linear only),
     "kernel": ..., "restarts": ..., "pca": ..., "calibrate": null | "t" | "loo",
     "mc_draws": S (nonlinear only),
     "parameter_uncertainty": "posterior" | "first-order" | false,
     "theta_draws": K (with "posterior"),
     "warp": bool,
     "blocks": {"mf.0.": {"type": "gp", "kernel", "fidelity", "n", "fit": [status, ...],
                          "warp": [bool per output] (when warping was tried),
                          "draws": K (when the level holds draws of θ)},
                "mf.<t>.": {"type": "linear" | "nonlinear", "kernel", "fidelity", "n",
                            "nested": bool, "rho" (linear only), "fit": [...],
                            "ard": [bool per output] (linear, d > 1),
                            "calibrate": "t" (nonlinear, variances scaled at fit)}}}

and the card's top-level ``levels`` lists ``{"fidelity", "n", "sha256"}`` per level.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from emulators.errors import EmulatorFileError
from emulators.runtime.gp import GPPredictor, kernel_matrix
from emulators.runtime.predictor import block_card, register, require

#: Inputs are clipped into ``[WARP_EPS, 1 − WARP_EPS]`` before a level's warping (as in
#: ``emulators.mfgp.model``, which must use the same value).
WARP_EPS = 1e-6
#: Most fidelity levels and Monte Carlo draws a file may declare.
MAX_LEVELS = 16
MAX_DRAWS = 100_000
MAX_THETA_DRAWS = 256
TYPES = ("gp", "linear", "nonlinear")


def kernel_gradients(kind: str, U1: np.ndarray, U2: np.ndarray, lengthscale: np.ndarray,
                     outputscale: np.ndarray) -> np.ndarray:
    """``∂k(u, u')/∂θ_j (m, d + 1, n1, n2)`` for ``θ = (log ℓ_1 … log ℓ_d, log σ²)``:
    ``σ² c(r) (Δ_j/ℓ_j)²`` with ``c = −k'(r)/r`` (R&W 2006 eq. 4.9, 4.17), then ``k``;
    points ``(n, d)`` or ``(m, n, d)`` as :func:`~emulators.runtime.gp.kernel_matrix`."""
    A = U1 if U1.ndim == 3 else U1[None]
    B = U2 if U2.ndim == 3 else U2[None]
    diff2 = ((A[:, :, None, :] - B[:, None, :, :])
             / lengthscale[:, None, None, :]) ** 2  # (m, n1, n2, d)
    r2 = diff2.sum(-1)
    c = _slope(kind, r2)
    s = outputscale[:, None, None]
    d_ls = np.moveaxis(s[..., None] * c[..., None] * diff2, -1, 1)  # (m, d, n1, n2)
    k = s * _stationary(kind, r2)
    return np.concatenate([d_ls, k[:, None]], axis=1)


def _slope(kind: str, r2: np.ndarray) -> np.ndarray:
    """``c = −k'(r)/r`` of the unit-variance kernel (so ``∂k/∂r² = −c/2``)."""
    if kind == "rbf":
        return np.exp(-0.5 * r2)
    r = np.sqrt(r2)
    if kind == "matern52":
        return 5.0 / 3.0 * (1.0 + math.sqrt(5) * r) * np.exp(-math.sqrt(5) * r)
    return 3.0 * np.exp(-math.sqrt(3) * r)


def warp_gradients(kind: str, W1: np.ndarray, W2: np.ndarray, D1: np.ndarray, D2: np.ndarray,
                   lengthscale: np.ndarray, outputscale: np.ndarray) -> np.ndarray:
    """``∂k(w(u), w(u'))/∂(log a, log b) (m, 2d, n1, n2)`` at warped points
    ``W1 (m, n1, d)``, ``W2 (m, n2, d)``, given the warping's derivatives ``D1 (m, n1, 2d)``,
    ``D2 (m, n2, 2d)`` (``∂w_j/∂log a_j``, then ``∂w_j/∂log b_j``): by the chain rule,
    ``−σ² c(r) Δ_j (∂w_j(u) − ∂w_j(u'))/ℓ_j²`` with ``Δ_j = w_j(u) − w_j(u')``."""
    delta = (W1[:, :, None, :] - W2[:, None, :, :]) / lengthscale[:, None, None, :] ** 2
    r2 = ((W1[:, :, None, :] - W2[:, None, :, :]) ** 2
          / lengthscale[:, None, None, :] ** 2).sum(-1)
    c = -outputscale[:, None, None] * _slope(kind, r2)  # (m, n1, n2)
    d = W1.shape[-1]
    out = []
    for half in (slice(0, d), slice(d, 2 * d)):
        dd = D1[:, :, None, half] - D2[:, None, :, half]  # (m, n1, n2, d)
        out.append(np.moveaxis(c[..., None] * delta * dd, -1, 1))
    return np.concatenate(out, axis=1)


def _stationary(kind: str, r2: np.ndarray) -> np.ndarray:
    """Unit-variance kernel of squared scaled distance (R&W 2006 eq. 4.9, 4.17)."""
    if kind == "rbf":
        return np.exp(-0.5 * r2)
    r = np.sqrt(np.maximum(r2, 0.0))
    if kind == "matern52":
        return (1.0 + math.sqrt(5) * r + 5.0 / 3.0 * r2) * np.exp(-math.sqrt(5) * r)
    return (1.0 + math.sqrt(3) * r) * np.exp(-math.sqrt(3) * r)  # matern32


class _Level:
    """One fidelity level: a GPPredictor for its own GP plus the link arrays."""

    def __init__(self, card: Mapping[str, Any], arrays: Mapping[str, np.ndarray], prefix: str,
                 first: bool, d: int | None):
        section = block_card(card, prefix)
        self.type = section.get("type", "gp" if first else "linear")
        if self.type not in TYPES or (first != (self.type == "gp")):
            raise EmulatorFileError(f"block {prefix!r} has type {self.type!r}; level 0 must "
                                    f"be 'gp' and higher levels 'linear' or 'nonlinear'")
        self.gp = GPPredictor(card, arrays, prefix)
        self.kernel = self.gp.kernel
        n, d = self.gp.U.shape
        m = self.gp.n_latent
        self.H = require(arrays, prefix + "LinvH", (m, n, None))
        p = self.H.shape[2]
        self.C = require(arrays, prefix + "beta_cov", (m, p, p))
        if np.any(np.diagonal(self.C, axis1=1, axis2=2) < 0):
            raise EmulatorFileError(f"{prefix}beta_cov must have a non-negative diagonal")
        self.rho = None
        if self.type == "linear":
            if p not in (2, d + 2):
                raise EmulatorFileError(f"{prefix}LinvH has {p} regressors; a linear level "
                                        f"has 2 (constant ρ) or {d + 2} (linear ρ)")
            self.rho = require(arrays, prefix + "rho", (m, p - 1))
        elif self.type == "nonlinear":
            if p != 1:
                raise EmulatorFileError(f"{prefix}LinvH must have one regressor (the constant "
                                        f"mean) on a nonlinear level, got {p}")
            self.train_f = require(arrays, prefix + "train_f", (m, n))
            self.rho_ls = require(arrays, prefix + "rho_lengthscale", (m, d), positive=True)
            self.rho_os = require(arrays, prefix + "rho_outputscale", (m,), positive=True)
            self.f_ls = require(arrays, prefix + "f_lengthscale", (m,), positive=True)
        elif p != 1:
            raise EmulatorFileError(f"{prefix}LinvH must have one regressor at level 0")
        self.n, self.d, self.m, self.p = n, d, m, p
        self.warp = None  # Kumaraswamy input warping (a, b) of level 0; optional
        if prefix + "warp_a" in arrays:
            if self.type != "gp":
                raise EmulatorFileError(f"{prefix}warp_a: only level 0 may warp its inputs")
            self.warp = (require(arrays, prefix + "warp_a", (m, d), positive=True),
                         require(arrays, prefix + "warp_b", (m, d), positive=True))
        self.U = self.inputs(self.gp.U)  # the kernel's training inputs
        self.theta_cov = None  # parameter uncertainty (emulators.mfgp.plugin); optional
        if prefix + "theta_cov" in arrays and self.type != "nonlinear":
            J = d + 1 if self.warp is None else 3 * d + 1  # + (log a, log b) when warped
            self.theta_cov = require(arrays, prefix + "theta_cov", (m, J, J))
            self.dalpha = require(arrays, prefix + "dalpha", (m, J, n))
            self.dbeta = require(arrays, prefix + "dbeta", (m, J, p))
        self.draws, self.weight = None, None  # posterior draws of θ; optional
        if prefix + "draws.weight" in arrays:
            if self.type == "nonlinear" or prefix.count("draws.") > 0:
                raise EmulatorFileError(f"{prefix}draws.*: only level 0 and linear levels "
                                        f"may hold covariance-parameter draws")
            self.weight = require(arrays, prefix + "draws.weight", (m, None), nonnegative=True)
            K = self.weight.shape[1]
            if not 1 <= K <= MAX_THETA_DRAWS or not np.allclose(self.weight.sum(1), 1.0,
                                                                 atol=1e-9):
                raise EmulatorFileError(f"{prefix}draws.weight must hold 1 to "
                                        f"{MAX_THETA_DRAWS} weights per output, summing to 1")
            # the draws are the level's own GP at other θ: they read its card block
            model, blocks = card["model"], card["model"].get("blocks")
            blocks = dict(blocks) if isinstance(blocks, Mapping) else {}
            sub = {**card, "model": {**model, "blocks": {**blocks, prefix + "draws.": section}}}
            self.draws = _Level(sub, arrays, prefix + "draws.", first, d)
            if (self.draws.type, self.draws.m, self.draws.p) != (self.type, m * K, p) or (
                    self.draws.n != n):
                raise EmulatorFileError(f"{prefix}draws.* must be {K} draws of each of the "
                                        f"{m} outputs of a {self.type!r} level with {n} "
                                        f"points and {p} regressors")

    def inputs(self, U: np.ndarray) -> np.ndarray:
        """The kernel's inputs: ``U (q, d)`` itself, or warped, ``(m, q, d)``:
        ``1 − (1 − u^a)^b`` on ``u`` clipped into ``[WARP_EPS, 1 − WARP_EPS]`` (Snoek et al.
        2014, eq. 3)."""
        if self.warp is None:
            return U
        a, b = self.warp
        u = np.clip(U, WARP_EPS, 1.0 - WARP_EPS)[None]
        return 1.0 - (1.0 - u ** a[:, None, :]) ** b[:, None, :]

    def _warp_derivatives(self, U: np.ndarray) -> np.ndarray:
        """``(∂w/∂log a, ∂w/∂log b)`` per input, ``(m, q, 2d)``:
        ``a b (1 − u^a)^{b−1} u^a ln u`` and ``−b (1 − u^a)^b ln(1 − u^a)``."""
        a, b = (x[:, None, :] for x in self.warp)
        u = np.clip(U, WARP_EPS, 1.0 - WARP_EPS)[None]
        ua = u**a
        da = a * b * (1.0 - ua) ** (b - 1.0) * ua * np.log(u)
        db = -b * (1.0 - ua) ** b * np.log1p(-ua)
        return np.concatenate([da, db], axis=-1)

    def _theta_gradient(self, U: np.ndarray, h: np.ndarray, Ks: np.ndarray) -> np.ndarray:
        """``∇_θ μ (m, q, J)`` at ``U (q, d)`` given regressors ``h (m, q, p)`` and
        ``Ks = k(U_train, U) (m, n, q)`` (Kackar & Harville 1984; see
        :mod:`emulators.mfgp.plugin`)."""
        gp = self.gp
        W = self.inputs(U)
        dK = kernel_gradients(self.kernel, self.U, W, gp.lengthscale, gp.outputscale)
        if self.warp is not None:  # θ also holds the warping's (log a, log b)
            dK = np.concatenate([dK, warp_gradients(
                self.kernel, self.U, W, self._warp_derivatives(gp.U),
                self._warp_derivatives(U), gp.lengthscale, gp.outputscale)], axis=1)
        return (np.einsum("mqp,mjp->mqj", h, self.dbeta)
                + np.einsum("mjnq,mn->mqj", dK, gp.alpha)
                + np.einsum("mjn,mnq->mqj", self.dalpha, Ks))

    # -- linear (and level 0) ---------------------------------------------------------
    def _g(self, U: np.ndarray) -> np.ndarray:
        """ρ regressors ``g(x)`` ``(q, p−1)``."""
        one = np.ones((len(U), 1))
        return one if self.p == 2 else np.concatenate([one, U], axis=1)

    def linear(self, U: np.ndarray, mu: np.ndarray | None, var: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and noise-free variance ``(m, q)`` given the lower level's: the
        plug-in prediction, or, with draws of θ, the moments of the weighted mixture of
        the draws' predictions (``μ = Σ w_k μ_k``, ``σ² = Σ w_k (σ_k² + (μ_k − μ)²)``)."""
        if self.draws is None:
            return self._linear(U, mu, var)
        K = self.weight.shape[1]
        ms, vs = self.draws._linear(U, *(None if a is None else np.repeat(a, K, axis=0)
                                         for a in (mu, var)))
        ms, vs = ms.reshape(self.m, K, -1), vs.reshape(self.m, K, -1)
        w = self.weight[:, :, None]
        mean = (w * ms).sum(1)
        return mean, (w * (vs + (ms - mean[:, None]) ** 2)).sum(1)

    def rows(self, idx: np.ndarray) -> _Level:
        """A view of this level with only the latent rows ``idx`` (one draw of θ per output
        for :meth:`MFGPPredictor.sample`)."""
        gp = self.gp
        out = copy.copy(self)
        out.gp = SimpleNamespace(U=gp.U, lengthscale=gp.lengthscale[idx],
                                 outputscale=gp.outputscale[idx], noise=gp.noise[idx],
                                 const=gp.const[idx], alpha=gp.alpha[idx],
                                 L_inv=gp.L_inv[idx])
        out.H, out.C, out.m = self.H[idx], self.C[idx], len(idx)
        out.rho = None if self.rho is None else self.rho[idx]
        out.warp = None if self.warp is None else (self.warp[0][idx], self.warp[1][idx])
        out.U = out.inputs(gp.U)
        out.theta_cov, out.draws, out.weight = None, None, None
        return out

    @property
    def noise(self) -> np.ndarray:
        """Noise variance ``(m,)`` (the draws' weighted mean when the level has draws)."""
        if self.draws is None:
            return self.gp.noise
        return (self.weight * self.draws.gp.noise.reshape(self.weight.shape)).sum(1)

    def _linear(self, U: np.ndarray, mu: np.ndarray | None, var: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
        gp = self.gp
        Ks = kernel_matrix(self.kernel, self.U, self.inputs(U), gp.lengthscale,
                           gp.outputscale)  # (m, n, q)
        v = np.matmul(gp.L_inv, Ks)
        mean = gp.const[:, None] + np.einsum("mn,mnq->mq", gp.alpha, Ks)
        var_d = gp.outputscale[:, None] - np.einsum("mnq,mnq->mq", v, v)
        q = len(U)
        h = np.ones((self.m, q, self.p))
        if self.rho is not None:
            g = self._g(U)  # (q, p−1)
            rho = self.rho @ g.T  # (m, q)
            h[:, :, :-1] = g[None] * mu[:, :, None]
            mean = mean + rho * mu
            Crr = self.C[:, :-1, :-1]
            var_d = var_d + (rho**2 + np.einsum("qi,mij,qj->mq", g, Crr, g)) * var
        r = h - np.einsum("mnp,mnq->mqp", self.H, v)  # Le Gratiet & Garnier eq. 3.8
        var_d = var_d + np.einsum("mqp,mpr,mqr->mq", r, self.C, r)
        if self.theta_cov is not None:  # + ∇μᵀ Σ_θ ∇μ (Kackar & Harville 1984)
            grad = self._theta_gradient(U, h, Ks)
            var_d = var_d + np.einsum("mqi,mij,mqj->mq", grad, self.theta_cov, grad)
        return mean, np.maximum(var_d, 0.0)

    # -- nonlinear --------------------------------------------------------------------
    def _k_nonlinear(self, U1: np.ndarray, F1: np.ndarray, U2: np.ndarray, F2: np.ndarray
                     ) -> np.ndarray:
        """``k_ρ(x,x') k_f(f,f') + k_δ(x,x')`` ``(..., m, n1, n2)``; F are ``(..., m, n)``
        (Perdikaris et al. 2017, eq. 5)."""
        gp = self.gp
        kx = kernel_matrix(self.kernel, U1, U2, self.rho_ls, self.rho_os)
        r2 = ((F1[..., :, None] - F2[..., None, :]) / self.f_ls[:, None, None]) ** 2
        kd = kernel_matrix(self.kernel, U1, U2, gp.lengthscale, gp.outputscale)
        return kx * _stationary(self.kernel, r2) + kd

    def nonlinear(self, U: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and noise-free variance ``(S, m, q)`` at ``U`` given draws ``F (S, m, q)``
        of the lower level."""
        gp = self.gp
        Ks = self._k_nonlinear(gp.U, self.train_f, U, F)  # (S, m, n, q)
        v = np.matmul(gp.L_inv, Ks)
        mean = gp.const[:, None] + np.einsum("mn,smnq->smq", gp.alpha, Ks)
        var = (self.rho_os + gp.outputscale)[:, None] - np.einsum("smnq,smnq->smq", v, v)
        r = 1.0 - np.einsum("mnp,smnq->smqp", self.H, v)
        var = var + np.einsum("smqp,mpr,smqr->smq", r, self.C, r)
        return mean, np.maximum(var, 0.0)


@register
class MFGPPredictor:
    """Multi-fidelity GP (KOH 2000 autoregressive or NARGP), levels ``<prefix><t>.``."""

    kind: ClassVar[str] = "mfgp"
    default_prefix: ClassVar[str] = "mf."

    def __init__(self, card: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 prefix: str = "mf."):
        model = card.get("model") or {}
        if not isinstance(model, Mapping):
            raise EmulatorFileError("the card's 'model' section is not a mapping")
        L = model.get("levels")
        if not isinstance(L, int) or not 1 <= L <= MAX_LEVELS:
            raise EmulatorFileError(f"the card's model.levels must be an integer in "
                                    f"[1, {MAX_LEVELS}], got {L!r}")
        d = len(card["inputs"]) if "inputs" in card else None
        self.prefix = prefix
        self.levels = [_Level(card, arrays, f"{prefix}{t}.", t == 0, d) for t in range(L)]
        first = self.levels[0]
        for t, lev in enumerate(self.levels):
            if lev.m != first.m or lev.d != first.d:
                raise EmulatorFileError(f"level {t} has {lev.m} outputs and {lev.d} inputs; "
                                        f"level 0 has {first.m} and {first.d}")
        self.nonlinear = any(lev.type == "nonlinear" for lev in self.levels)
        self.eps = None
        if self.nonlinear:
            self.eps = require(arrays, prefix + "eps", (L - 1, None))
            if not 1 <= self.eps.shape[1] <= MAX_DRAWS:
                raise EmulatorFileError(f"{prefix}eps must hold 1 to {MAX_DRAWS} draws")
        self.n_inputs, self.n_latent = first.d, first.m

    # -- Predictor protocol --------------------------------------------------------------
    def __call__(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-level latent mean and variance ``(q, m)`` (noise of the top level included)."""
        mean, var = self.level_predictions(U)[-1]
        return mean.T, (var + self.levels[-1].noise[:, None]).T

    def level_predictions(self, U: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Noise-free latent mean and variance ``(m, q)`` of every level at ``U``."""
        out = []
        mu, var = self.levels[0].linear(U, None, None)
        out.append((mu, var))
        draws = None  # (S, m, q) Monte Carlo paths once a nonlinear level is met
        for t, lev in enumerate(self.levels[1:], start=1):
            if lev.type == "linear" and draws is None:
                mu, var = lev.linear(U, mu, var)
            elif lev.type == "linear":
                ms, vs = zip(*(lev.linear(U, f, np.zeros_like(f)) for f in draws), strict=True)
                ms, vs = np.stack(ms), np.stack(vs)
                mu, var = ms.mean(0), vs.mean(0) + ms.var(0)
                draws = self._next(t, ms, vs)
            else:
                if draws is None:
                    draws = mu[None] + np.sqrt(var)[None] * self._eps(t)
                ms, vs = lev.nonlinear(U, draws)
                mu, var = ms.mean(0), vs.mean(0) + ms.var(0)  # Perdikaris et al. eq. 6
                draws = self._next(t, ms, vs)
            out.append((mu, var))
        return out

    def _eps(self, t: int) -> np.ndarray:
        """Fixed standard-normal draws ``(S, 1, 1)`` for the input of level ``t``."""
        return self.eps[t - 1][:, None, None]

    def _next(self, t: int, ms: np.ndarray, vs: np.ndarray) -> np.ndarray | None:
        """Draws of ``f_t`` along each Monte Carlo path, for level ``t + 1``."""
        return ms + np.sqrt(vs) * self._eps(t + 1) if t + 1 < len(self.levels) else None

    def train_inputs(self) -> np.ndarray:
        return self.levels[-1].gp.U

    def bytes_per_point(self) -> int:
        S = self.eps.shape[1] if self.eps is not None else 1
        S *= max(1 if lev.weight is None else lev.weight.shape[1] for lev in self.levels)
        n = max(lev.n for lev in self.levels)
        p = max(lev.p for lev in self.levels)
        # + the covariance-parameter gradients (m, d + 1, n, q) and distances (m, n, q, d)
        return 8 * S * self.n_latent * (3 * n + 3 * p + 2 * self.n_inputs + 8
                                        + n * (2 * self.n_inputs + 1))

    # -- joint draws ---------------------------------------------------------------------
    def sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` joint draws of the top-level latent function at ``U``: ``(n, q, m)``.

        Level by level: a draw of ``f_{t−1}`` at ``U``, then a joint draw of level ``t``
        given it — with ``β`` drawn from its GLS posterior for linear levels, so ρ's
        uncertainty is carried — (noise-free; KOH 2000 §3, Perdikaris et al. 2017 §2.2).
        """
        F = np.stack([self._draw_level(self.levels[0], U, None, rng) for _ in range(n)])
        for lev in self.levels[1:]:
            F = np.stack([self._draw_level(lev, U, f.T, rng) for f in F])
        return F

    def _draw_level(self, lev: _Level, U: np.ndarray, f: np.ndarray | None,
                    rng: np.random.Generator) -> np.ndarray:
        """One joint draw ``(q, m)`` of level ``lev`` given the lower level's ``f (m, q)``
        (``None`` at level 0); a level with draws of θ first picks one per output, with
        probability its weight."""
        if lev.draws is not None:
            K = lev.weight.shape[1]
            pick = [rng.choice(K, p=w / w.sum()) for w in lev.weight]
            return self._draw_level(lev.draws.rows(np.arange(lev.m) * K + np.array(pick)),
                                    U, f, rng)
        gp = lev.gp
        if lev.type == "gp":  # level 0: constant mean β_δ only
            W = lev.inputs(U)
            K_s = kernel_matrix(lev.kernel, lev.U, W, gp.lengthscale, gp.outputscale)
            K_ss = kernel_matrix(lev.kernel, W, W, gp.lengthscale, gp.outputscale)
            mean = gp.const[:, None] + np.einsum("mn,mnq->mq", gp.alpha, K_s)
            h = np.ones((lev.m, len(U), 1))
        elif lev.type == "linear":
            K_s = kernel_matrix(lev.kernel, gp.U, U, gp.lengthscale, gp.outputscale)
            K_ss = kernel_matrix(lev.kernel, U, U, gp.lengthscale, gp.outputscale)
            g = lev._g(U)
            mean = gp.const[:, None] + np.einsum("mn,mnq->mq", gp.alpha, K_s) \
                + (lev.rho @ g.T) * f
            h = np.ones((lev.m, len(U), lev.p))
            h[:, :, :-1] = g[None] * f[:, :, None]
        else:
            Fs = f[None]
            K_s = lev._k_nonlinear(gp.U, lev.train_f, U, Fs)[0]
            K_ss = lev._k_nonlinear(U, Fs[0], U, Fs[0])
            mean = gp.const[:, None] + np.einsum("mn,mnq->mq", gp.alpha, K_s)
            h = np.ones((lev.m, len(U), 1))
        V = np.matmul(gp.L_inv, K_s)
        R = h - np.einsum("mnp,mnq->mqp", lev.H, V)
        # β ~ N(β̂, C) shifts the mean by R (β − β̂) (R&W 2006 eq. 2.41–2.42)
        cov = K_ss - np.matmul(np.swapaxes(V, 1, 2), V) + R @ lev.C @ np.swapaxes(R, 1, 2)
        if lev.theta_cov is not None:  # θ ~ N(θ̂, Σ_θ) shifts it by ∇μ (θ − θ̂), to first order
            grad = lev._theta_gradient(U, h, K_s)
            cov = cov + grad @ lev.theta_cov @ np.swapaxes(grad, 1, 2)
        w, E = np.linalg.eigh(cov)
        root = E * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
        eps = rng.standard_normal((lev.m, len(U)))
        return (mean + np.einsum("mij,mj->mi", root, eps)).T
