"""Closed-form Sobol' indices of a GP emulator's posterior mean (no Monte Carlo).

The posterior mean of latent output ``j`` of an exact GP with the squared-exponential (RBF)
ARD kernel is a sum of separable Gaussians (R&W 2006 eq. 2.27):

    m_j(u) = c_j + σ_j² Σ_a α_ja Π_l exp(−(u_l − x_al)² / 2ℓ_jl²)

With independent inputs, every conditional expectation of ``m_j`` is again a product of
one-dimensional integrals (Oakley & O'Hagan 2004, Sect. 3; Marrel et al. 2009, Sect. 3.1):

    I_jl(a)     = E[k_jl(u_l, x_al)]
    J_jkl(a, b) = E[k_jl(u_l, x_al) k_kl(u_l, x_bl)]

and for a set ``s`` of inputs, ``Cov(E[m_j | u_s], E[m_k | u_s])`` is

    σ_j² σ_k² α_jᵀ [ Π_{l∈s} J_jkl ⊙ Π_{l∉s} I_jl I_klᵀ − Π_l I_jl I_klᵀ ] α_k .

Main effects take ``s = {i}``; total effects ``V − Var(E[m | u_~i])``.  The integrals are
Gaussian: uniform inputs give error functions, and normal inputs (truncated to their
bounds, as the parameter space defines them) give a Gaussian times error functions.
Log-uniform inputs are uniform on the emulator's (log) scale.

Numerics: written as above, the quadratic forms in ``α`` cancel catastrophically for the
near-singular kernel matrices of smooth, almost noise-free fits (``|σ² α|`` ~ 1e6 for an
output of order 1: every digit is lost).  So only the integrals over the inputs *left out*
use ``I`` in closed form; the variance over the inputs kept is a tensor Gauss–Legendre
quadrature (exact to ~1e-12 for these Gaussians), evaluated in factored form with the
training index contracted before squaring (:func:`_sq_norm`).  No Monte Carlo anywhere.

Waveforms reduced by PCA: the basis rows are orthonormal, so the aggregated (generalised)
indices of the whole waveform (Gamboa et al. 2014) need only the latent outputs' own
variances, ``Σ_t V_i(y_t) = Σ_k s_k² V_i(z_k)`` (``s_k`` the latent scale).

Matérn kernels: the ARD Matérn kernel is a function of the scaled Euclidean distance, not a
product over inputs, so these integrals do not factorise and have no closed form in more
than one dimension; :func:`analytic_sobol` refuses them (use the Monte Carlo estimates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from simulators.design import ParameterSpace


@dataclass
class AnalyticSobol:
    """Exact indices of the posterior mean, one row per latent output.

    A scalar output is one latent output; a waveform block has one row per latent column
    (``name#k``, its PCA components), to be aggregated with :meth:`aggregate`.
    ``S1``, ``ST``: ``(m, d)``; ``V``: ``(m,)`` the variance of each row's mean in physical
    units²; ``V1``, ``VT``: the partial variances ``(m, d)``.
    """

    names: list[str]
    columns: list[str]
    V: np.ndarray
    V1: np.ndarray
    VT: np.ndarray

    @property
    def S1(self) -> np.ndarray:
        return self.V1 / _pos(self.V)[:, None]

    @property
    def ST(self) -> np.ndarray:
        return self.VT / _pos(self.V)[:, None]

    def rows(self, name: str) -> np.ndarray:
        """Row indices of output ``name``."""
        return np.array([k for k, c in enumerate(self.columns)
                         if c == name or c.startswith(name + "#")], dtype=int)

    def aggregate(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Generalised ``(S1, ST)`` (``(d,)`` each) of the columns ``cols`` (Gamboa 2014)."""
        V = _pos(np.asarray(self.V[cols].sum()))
        return self.V1[cols].sum(axis=0) / V, self.VT[cols].sum(axis=0) / V


def _pos(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0, v, np.nan)


def _gauss_integral(c: np.ndarray, v: np.ndarray, dist: tuple[str, float, float]
                    ) -> np.ndarray:
    """``∫_0^1 exp(−(u − c)² / 2v) p(u) du`` for ``p`` uniform or a truncated normal."""
    if dist[0] == "uniform":
        s = np.sqrt(v)
        return np.sqrt(2 * np.pi * v) * (ndtr((1 - c) / s) - ndtr(-c / s))
    _, mu, sd = dist
    # Gaussian × Gaussian = Gaussian (precision adds): mean m, variance τ²
    tot = v + sd**2
    tau = np.sqrt(v * sd**2 / tot)
    m = (c * sd**2 + mu * v) / tot
    Z = ndtr((1 - mu) / sd) - ndtr(-mu / sd)
    return (tau / sd) * np.exp(-0.5 * (c - mu) ** 2 / tot) * (ndtr((1 - m) / tau)
                                                              - ndtr(-m / tau)) / Z


def unit_distributions(space: ParameterSpace) -> list[tuple[str, float, float]]:
    """Each input's distribution on the emulator's unit-cube scale."""
    out = []
    for p in space:
        if p.dist == "normal":
            span = p.high - p.low
            out.append(("normal", (p.mu - p.low) / span, p.sigma / span))
        else:  # uniform, and log-uniform on its log scale
            out.append(("uniform", 0.0, 1.0))
    return out


def _one_dim(x: np.ndarray, l1: float, l2: float | None, dist) -> np.ndarray:
    """``I(a)`` (``l2 is None``, shape ``(n,)``) or ``J(a, b)`` (``(n, n)``) for one input."""
    if l2 is None:
        return _gauss_integral(x, np.full_like(x, l1**2), dist)
    a, b = x[:, None], x[None, :]
    s = l1**2 + l2**2
    pref = np.exp(-0.5 * (a - b) ** 2 / s)
    c = (a * l2**2 + b * l1**2) / s
    return pref * _gauss_integral(c, np.full_like(c, l1**2 * l2**2 / s), dist)


def _nodes(dist: tuple[str, float, float], lmin: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes on [0, 1] and weights times the input's density; enough nodes
    that a Gaussian of width ``lmin`` is integrated to ~1e-12 (24 + 6/lmin, at most 160)."""
    q = int(np.clip(24 + np.ceil(6.0 / lmin), 24, 160))
    x, w = np.polynomial.legendre.leggauss(q)
    u, w = (x + 1) / 2, w / 2
    if dist[0] == "normal":
        _, mu, sd = dist
        Z = ndtr((1 - mu) / sd) - ndtr(-mu / sd)
        w = w * np.exp(-0.5 * ((u - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi) * Z)
    return u, w


def _sq_norm(R: np.ndarray, factors: list[np.ndarray]) -> float:
    """``Σ_rows (Σ_a T[row, a])²`` of the CP tensor with leading rows ``R (r, n)`` and
    quadrature factors ``G (Q, n)`` (weights folded in), contracting the training index
    ``a`` *before* squaring: each factor is absorbed and the rows re-orthogonalised by a
    QR, which leaves the squared norm unchanged and never forms the cancelling products
    ``α_a α_b`` (those lose every digit for a near-singular kernel matrix)."""
    R = _absorb(R, factors)
    return float(np.sum(np.sum(R, axis=1) ** 2))


def _absorb(R: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
    n = R.shape[1]
    for G in factors:
        R = (R[:, None, :] * G[None, :, :]).reshape(-1, n)
        if R.shape[0] > n:
            R = np.linalg.qr(R, mode="r")
    return R


def latent_variances(predictor: Any, space: ParameterSpace) -> dict[str, np.ndarray]:
    """Variance ``V (m,)`` of each latent posterior mean, its main-effect ``V1 (m, d)`` and
    total-effect ``VT (m, d)`` partial variances (module doc).

    Integrals over the inputs left out of a conditional expectation are exact (``I``);
    the variance over the kept inputs is a tensor Gauss–Legendre quadrature evaluated in
    factored form (:func:`_sq_norm`), accurate to ~1e-10 of the output variance.
    """
    if predictor.kernel != "rbf":
        raise ValueError(f"closed-form Sobol' indices need the RBF kernel (the ARD "
                         f"{predictor.kernel} kernel does not factorise over inputs); use "
                         f"the Monte Carlo indices instead")
    X, ls, s2, alpha = predictor.U, predictor.lengthscale, predictor.outputscale, predictor.alpha
    n, d = X.shape
    m = len(s2)
    dists = unit_distributions(space)
    if len(dists) != d:
        raise ValueError(f"the space has {len(dists)} inputs but the emulator {d}")
    V, V1, VT = np.zeros(m), np.zeros((m, d)), np.zeros((m, d))
    for j in range(m):
        c = s2[j] * alpha[j]
        I = np.stack([_one_dim(X[:, l], ls[j, l], None, dists[l]) for l in range(d)])
        G = []
        for l in range(d):
            u, w = _nodes(dists[l], ls[j, l])
            k = np.exp(-0.5 * (u[:, None] - X[None, :, l]) ** 2 / ls[j, l] ** 2)
            G.append(np.sqrt(w)[:, None] * k)
        mean2 = float(c @ np.prod(I, axis=0)) ** 2  # (E m − c_j)²
        # prefix sweeps: P[l] holds dims < l in quadrature form
        P = [c[None, :]]
        for l in range(d):
            P.append(_absorb(P[-1], [G[l]]))
        V[j] = float(np.sum(np.sum(P[d], axis=1) ** 2)) - mean2
        for i in range(d):
            others = np.prod(np.delete(I, i, axis=0), axis=0)
            V1[j, i] = _sq_norm((c * others)[None, :], [G[i]]) - mean2
            rest = _sq_norm(P[i] * I[i][None, :], G[i + 1:]) - mean2  # Var E[m | u_~i]
            VT[j, i] = V[j] - rest
    return {"V": V, "V1": V1, "VT": VT}


def latent_to_columns(outputs: Any) -> np.ndarray:
    """The linear map ``A (columns, m)`` from latent outputs to physical columns."""
    m = outputs.n_latent
    zero = outputs.inverse(np.zeros((1, m)), np.zeros((1, m)))[0]
    return (outputs.inverse(np.eye(m), np.zeros((m, m)))[0] - zero).T


def analytic_sobol(emulator: Any, space: ParameterSpace | None = None) -> AnalyticSobol:
    """Exact Sobol' indices of an RBF GP emulator's posterior mean, per physical column.

    ``emulator``: a :class:`~emulators.GaussianProcess` or a loaded runtime emulator of an
    exact GP; ``space`` defaults to the emulator's own.  Raises ``ValueError`` for other
    kernels and ``TypeError`` for emulators that are not exact GPs.
    """
    from emulators.sensitivity.posterior import gp_predictor

    p = gp_predictor(emulator)
    if p is None:
        raise TypeError(f"closed-form indices need an exact GP emulator, got "
                        f"{type(emulator).__name__}")
    space = space or emulator.space
    lv = latent_variances(p, space)
    scale = emulator.outputs.y_std ** 2  # latent → physical variance of each latent output
    return AnalyticSobol(space.names, _latent_labels(emulator.outputs), lv["V"] * scale,
                         lv["V1"] * scale[:, None], lv["VT"] * scale[:, None])


def _latent_labels(outputs: Any) -> list[str]:
    """``name`` for a scalar block, ``name#k`` for the ``k``-th latent column of a waveform
    or of a PCA group of scalars."""
    return [name if kind == "scalar" else f"{name}#{i}"
            for name, i, kind in outputs.latent_owners()]
