"""The Kennedy–O'Hagan likelihood, vectorised over a batch of parameter vectors.

Kennedy & O'Hagan (2001), J R Stat Soc B 63:425, eq. (5) with the simulator replaced by its
emulator: each observed output ``k`` at indices ``x_i`` (phases of the cycle) is

    z_k(x_i) = η_k(x_i, θ) + δ_k(x_i) + ε_i,     ε_i ~ N(0, σ_i²),
    δ_k ~ GP(0, a_k² exp(−(x − x')² / (2 ℓ_k²)))     (squared-exponential discrepancy),

and the emulator's own predictive variance ``v_η`` enters the covariance (diagonal: the
emulators report marginal variances), so that

    z_k | θ, a_k, ℓ_k ~ N(E[η_k(θ)], diag(v_η(θ) + σ²) + a_k² K_ℓk).

A scalar output has one observation: its discrepancy is a variance ``a_k²`` alone.
Sampled vector ``ψ = (u_1..u_d, log a_1, log ℓ_1, ...)`` with ``u`` the prior space's unit
cube coordinates of θ.  Priors: θ from the parameter space's distributions; ``a_k``
half-normal with scale ``delta_scale × spread_k``; ``ℓ_k`` log-normal (median 0.15 of a
cycle, log-s.d. 0.75).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from emulators.calibration.observations import OutputData
from simulators.design import ParameterSpace

LS_MEDIAN, LS_LOG_SD = 0.15, 0.75  # length-scale prior (fraction of the cycle)
_LOG2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Hyper:
    """One discrepancy hyperparameter: ``kind`` is ``"sd"`` (amplitude, output unit) or
    ``"ls"`` (length-scale, fraction of the cycle)."""

    output: str
    kind: str
    scale: float  # half-normal scale for "sd"; median for "ls"

    @property
    def name(self) -> str:
        return f"delta_{self.kind}_{self.output}"


class KOHModel:
    """Log posterior of θ (and discrepancy hyperparameters) given observations.

    Parameters
    ----------
    emulator : object with ``space`` and ``predict_dict``
        Any twinemu emulator (GP, multi-fidelity GP, ensemble, runtime file).
    data : {name: OutputData}
        Observations checked by :func:`~emulators.calibration.observations.prepare`.
    prior : ParameterSpace
        Prior of θ: same names as the emulator's space, bounds inside it.
    discrepancy : bool
        Include the discrepancy δ (KOH); ``False`` gives the plain calibration
        ``z = η(θ) + ε``.
    delta_scale : float
        Scale of the half-normal prior of each discrepancy amplitude, as a fraction of the
        output's spread (s.d. of a waveform's values, |value| of a scalar).
    """

    def __init__(self, emulator: Any, data: dict[str, OutputData], prior: ParameterSpace, *,
                 discrepancy: bool = True, delta_scale: float = 0.1):
        if not delta_scale > 0:
            raise ValueError(f"delta_scale must be > 0, got {delta_scale}")
        self.emulator = emulator
        self.data = data
        self.prior = prior
        self.discrepancy = bool(discrepancy)
        self.d = len(prior)
        self.hypers: list[Hyper] = []
        if self.discrepancy:
            for k, o in data.items():
                spread = float(np.std(o.values)) if len(o) > 1 else float(abs(o.values[0]))
                spread = max(spread, float(np.mean(o.sd)))
                self.hypers.append(Hyper(k, "sd", delta_scale * spread))
                if o.is_waveform and len(o) > 1:
                    self.hypers.append(Hyper(k, "ls", LS_MEDIAN))
        self.names = [*prior.names, *(h.name for h in self.hypers)]
        self.ndim = self.d + len(self.hypers)
        self._interp = {k: _interp_matrix(o, _wave_length(emulator, k)) for k, o in
                        data.items() if o.is_waveform}
        self._dist2 = {k: (o.index[:, None] - o.index[None, :]) ** 2 for k, o in data.items()
                       if o.is_waveform}
        normal = [p for p in prior.parameters if p.dist == "normal"]
        self._normal = (np.array([prior.names.index(p.name) for p in normal], dtype=int),
                        np.array([p.mu for p in normal]), np.array([p.sigma for p in normal]))

    # -- pieces ------------------------------------------------------------------------------
    def theta(self, psi: np.ndarray) -> np.ndarray:
        """Physical θ ``(n, d)`` from sampled vectors ``(n, ndim)``."""
        return self.prior.from_unit(np.clip(psi[:, : self.d], 0.0, 1.0))

    def hyper_values(self, psi: np.ndarray) -> np.ndarray:
        """Discrepancy hyperparameters in natural units ``(n, len(hypers))``."""
        return np.exp(psi[:, self.d:])

    def eta(self, X: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Emulator mean and variance at the observation indices: ``{name: ((n, n_k), (n,
        n_k))}`` in the emulator's units; one batched ``predict_dict`` call."""
        pred = self.emulator.predict_dict(X)
        out = {}
        for k, o in self.data.items():
            m, v = pred[k]
            m, v = np.asarray(m, dtype=float), np.asarray(v, dtype=float)
            if o.is_waveform:
                M = self._interp[k]
                out[k] = (m @ M.T, np.clip(v, 0.0, None) @ M.T)
            else:
                out[k] = (m.reshape(-1, 1), np.clip(v, 0.0, None).reshape(-1, 1))
        return out

    def log_prior(self, psi: np.ndarray) -> np.ndarray:
        psi = np.atleast_2d(psi)
        u = psi[:, : self.d]
        lp = np.where(np.all((u >= 0) & (u <= 1), axis=1), 0.0, -np.inf)
        idx, mu, sig = self._normal
        if idx.size:
            x = self.prior.from_unit(np.clip(u, 0, 1))[:, idx]
            lp = lp - 0.5 * np.sum(((x - mu) / sig) ** 2, axis=1)
        for j, h in enumerate(self.hypers):
            s = psi[:, self.d + j]
            if h.kind == "sd":  # half-normal on a, in log a (Jacobian a)
                a = np.exp(s)
                lp = lp - 0.5 * (a / h.scale) ** 2 + s
            else:  # log-normal on ℓ: normal in log ℓ
                lp = lp - 0.5 * ((s - math.log(h.scale)) / LS_LOG_SD) ** 2
        return lp

    def log_likelihood(self, psi: np.ndarray, eta: dict | None = None) -> np.ndarray:
        psi = np.atleast_2d(psi)
        if eta is None:
            eta = self.eta(self.theta(psi))
        hv = self.hyper_values(psi)
        hidx = {(h.output, h.kind): j for j, h in enumerate(self.hypers)}
        ll = np.zeros(len(psi))
        for k, o in self.data.items():
            m, v = eta[k]
            r = o.values[None, :] - m
            diag = v + o.sd[None, :] ** 2
            if (k, "sd") not in hidx:
                ll += -0.5 * np.sum(r**2 / diag + np.log(diag) + _LOG2PI, axis=1)
                continue
            a2 = hv[:, hidx[(k, "sd")]] ** 2
            if (k, "ls") not in hidx:  # scalar: δ adds a variance
                tot = diag + a2[:, None]
                ll += -0.5 * np.sum(r**2 / tot + np.log(tot) + _LOG2PI, axis=1)
                continue
            ls = hv[:, hidx[(k, "ls")]]
            C = a2[:, None, None] * np.exp(-0.5 * self._dist2[k][None] / ls[:, None, None] ** 2)
            n = len(o)
            C[:, np.arange(n), np.arange(n)] += diag + 1e-9 * a2[:, None]
            ll += _mvn_logpdf(r, C)
        return ll

    def log_prob(self, psi: np.ndarray) -> np.ndarray:
        """Log posterior (up to a constant) of a batch ``(n, ndim)``; ``-inf`` outside the
        prior's support.  One batched emulator call for the points inside."""
        psi = np.atleast_2d(np.asarray(psi, dtype=float))
        lp = self.log_prior(psi)
        ok = np.isfinite(lp)
        if ok.any():
            ll = self.log_likelihood(psi[ok])
            lp[ok] = lp[ok] + ll
        lp[~np.isfinite(lp)] = -np.inf
        return lp

    def initial_hyper(self) -> np.ndarray:
        """Log-hyperparameters at their prior medians (a: the half-normal median)."""
        return np.array([math.log(0.6745 * h.scale) if h.kind == "sd" else math.log(h.scale)
                         for h in self.hypers])


def _mvn_logpdf(r: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Log density of residuals ``r (n, m)`` under N(0, C[i]) for a batch ``C (n, m, m)``;
    ``-inf`` where a matrix is not positive definite."""
    try:
        return _mvn_batch(r, np.linalg.cholesky(C))
    except np.linalg.LinAlgError:
        out = np.full(len(r), -np.inf)
        for i in range(len(r)):
            try:
                out[i] = _mvn_batch(r[i:i + 1], np.linalg.cholesky(C[i:i + 1]))[0]
            except np.linalg.LinAlgError:
                pass
        return out


def _mvn_batch(r: np.ndarray, L: np.ndarray) -> np.ndarray:
    y = np.linalg.solve(L, r[..., None])[..., 0]
    logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    return -0.5 * (np.sum(y**2, axis=1) + logdet + r.shape[1] * _LOG2PI)


def _wave_length(emulator: Any, name: str) -> int:
    from emulators.calibration.observations import emulator_outputs

    return emulator_outputs(emulator)[name][1][0]


def _interp_matrix(o: OutputData, T: int) -> np.ndarray:
    """Periodic linear interpolation ``(n_k, T)`` from the phase grid ``k/T`` to ``o.index``."""
    pos = o.index * T
    lo = np.floor(pos + 1e-9).astype(int) % T
    w = np.clip(pos - np.floor(pos + 1e-9), 0.0, 1.0)
    M = np.zeros((len(o.index), T))
    rows = np.arange(len(o.index))
    M[rows, lo] += 1.0 - w
    M[rows, (lo + 1) % T] += w
    return M
