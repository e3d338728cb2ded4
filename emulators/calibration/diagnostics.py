"""Convergence and identifiability diagnostics of an MCMC run (small pure functions).

R-hat is the rank-normalised split R-hat of Vehtari et al. (2021), Bayesian Analysis 16:667,
eq. (4)-(5) with ranks (§3), the larger of the bulk and the folded (tail) values; each emcee
walker is taken as a chain.  The effective sample size uses emcee's integrated
autocorrelation time (Goodman & Weare 2010; Sokal's window), ESS = walkers × draws / τ.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata


def _rhat_basic(x: np.ndarray) -> float:
    """Split-R-hat of chains ``x (m, n)`` (Gelman et al. BDA3 eq. 11.4 on split chains)."""
    m, n = x.shape
    half = n // 2
    if half < 2:
        return float("nan")
    s = np.concatenate([x[:, :half], x[:, n - half:]], axis=0)
    means = s.mean(axis=1)
    B = half * means.var(ddof=1)
    W = s.var(axis=1, ddof=1).mean()
    if W <= 0:
        return float("nan") if B > 0 else 1.0
    var_plus = (half - 1) / half * W + B / half
    return float(np.sqrt(var_plus / W))


def _rank_normalise(x: np.ndarray) -> np.ndarray:
    r = rankdata(x, method="average").reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))  # Blom, as in Vehtari et al. eq. (14)


def rhat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat of chains ``x (m, n)``: max(bulk, folded)."""
    x = np.asarray(x, dtype=float)
    bulk = _rhat_basic(_rank_normalise(x))
    folded = _rhat_basic(_rank_normalise(np.abs(x - np.median(x))))
    return float(np.nanmax([bulk, folded]))


def ess(x: np.ndarray) -> float:
    """Effective sample size of chains ``x (m, n)`` from the integrated autocorrelation time."""
    import emcee

    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return float("nan")
    tau = float(emcee.autocorr.integrated_time(x.T[:, :, None], tol=0, quiet=True)[0])
    return float(x.size / max(tau, 1.0))


def contraction(post_u: np.ndarray, prior_var_u: np.ndarray) -> np.ndarray:
    """Prior-to-posterior contraction ``1 − Var_post / Var_prior`` per parameter (unit cube).

    ``post_u (n, d)`` are posterior samples on the prior's unit-cube scale; ``prior_var_u
    (d,)`` the prior variances there (1/12 for a uniform).  ≈ 0: the data say nothing;
    ≈ 1: the data pin the parameter (Schoot et al.; Betancourt 2018 "posterior z-score/
    contraction" plot).
    """
    return 1.0 - np.var(post_u, axis=0) / np.asarray(prior_var_u, dtype=float)


def correlations(samples: np.ndarray) -> np.ndarray:
    """Posterior correlation matrix ``(d, d)`` of samples ``(n, d)``."""
    s = np.asarray(samples, dtype=float)
    sd = s.std(axis=0)
    c = np.corrcoef(s, rowvar=False) if s.shape[1] > 1 else np.ones((1, 1))
    c = np.atleast_2d(c)
    c[:, sd == 0] = np.nan
    c[sd == 0, :] = np.nan
    return c
