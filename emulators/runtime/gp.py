"""GP predictor from exported arrays (numpy only).

``μ = c + k*ᵀα``, ``σ² = s (k** + σn² − |L⁻¹k*|² + |Bk*|²)`` (Rasmussen & Williams 2006,
Algorithm 2.1, with ``L⁻¹`` stored), batched over ``m`` independent latent outputs; ``s`` is
the calibration scale of the variance (1 when absent).  An exact GP has no ``B``; a sparse
(variational, inducing-point) GP stores its inducing points as ``train_u`` and
``B = chol(S)ᵀ K_zz⁻¹`` for the variational covariance ``S`` (Titsias 2009; Hensman et al.
2013, eq. 7).  A low-rank factor ``P`` may replace ``L⁻¹`` in the variance
(``|Pk*|² ≈ k*ᵀK⁻¹k*``, O(n·r) rather than O(n²) per point; its error is in the card).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from emulators.errors import EmulatorFileError
from emulators.runtime.predictor import block_card, register, require

KERNELS = ("matern52", "matern32", "rbf")


def kernel_matrix(kind: str, U1: np.ndarray, U2: np.ndarray, lengthscale: np.ndarray,
                  outputscale: np.ndarray) -> np.ndarray:
    """Covariances ``(m, n1, n2)`` between unit-cube points ``(n, d)`` (or ``(m, n, d)``,
    one set per output) for ``m`` outputs (R&W 2006 eq. 4.9 for RBF, eq. 4.17 for Matérn
    ν = 3/2, 5/2)."""
    # r² = |a|² + |b|² − 2 a·b on lengthscale-scaled inputs: one matmul per output.
    A = (U1 if U1.ndim == 3 else U1[None]) / lengthscale[:, None, :]
    B = (U2 if U2.ndim == 3 else U2[None]) / lengthscale[:, None, :]
    r2 = (np.einsum("mid,mid->mi", A, A)[:, :, None] + np.einsum("mjd,mjd->mj", B, B)[:, None, :]
          - 2.0 * np.matmul(A, np.swapaxes(B, 1, 2)))
    r2 = np.maximum(r2, 0.0)
    return outputscale[:, None, None] * _profile(kind, r2)


def _profile(kind: str, r2: np.ndarray) -> np.ndarray:
    """Correlation ``k(r)`` of squared scaled distances ``r²``."""
    if kind == "rbf":
        k = np.exp(-0.5 * r2)
    else:
        r = np.sqrt(r2)
        if kind == "matern52":  # (1 + √5 r + 5r²/3) exp(-√5 r)
            k = (1.0 + math.sqrt(5) * r + 5.0 / 3.0 * r2) * np.exp(-math.sqrt(5) * r)
        elif kind == "matern32":  # (1 + √3 r) exp(-√3 r)
            k = (1.0 + math.sqrt(3) * r) * np.exp(-math.sqrt(3) * r)
        else:
            raise EmulatorFileError(f"unknown kernel {kind!r}; known: {', '.join(KERNELS)}")
    return k


@register
class GPPredictor:
    """``m`` independent GPs sharing training (or inducing) inputs, from arrays ``<prefix>*``.

    Arrays: ``train_u (n, d)``, ``lengthscale (m, d)``, ``outputscale (m,)``,
    ``noise (m,)``, ``mean (m,)``, ``alpha (m, n)``, ``L_inv (m, n, n)``; optional:
    ``var_scale (m,)`` (variance calibration), ``lowrank (m, r, n)`` (low-rank variance
    factor), ``var_add (m, s, n)`` (sparse GP: variational covariance term) and
    ``design_u (N, d)`` (the training design when ``train_u`` holds inducing points).
    The card block may give ``novelty.threshold`` (one distance per output).
    """

    kind: ClassVar[str] = "gp"
    default_prefix: ClassVar[str] = "gp."

    def __init__(self, card: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 prefix: str = "gp."):
        self.prefix = prefix
        block = block_card(card, prefix)
        self.kernel = block.get("kernel")
        if self.kernel not in KERNELS:
            raise EmulatorFileError(f"unknown kernel {self.kernel!r} for block {prefix!r}; "
                                    f"known: {', '.join(KERNELS)}")
        d = len(card["inputs"]) if "inputs" in card else None
        self.U = require(arrays, prefix + "train_u", (None, d))
        n, d = self.U.shape
        if n < 1 or np.any(self.U < -1e-6) or np.any(self.U > 1 + 1e-6):
            raise EmulatorFileError(f"{prefix}train_u must hold unit-cube training inputs")
        self.lengthscale = require(arrays, prefix + "lengthscale", (None, d), positive=True)
        m = self.lengthscale.shape[0]
        self.outputscale = require(arrays, prefix + "outputscale", (m,), positive=True)
        self.noise = require(arrays, prefix + "noise", (m,), positive=True)
        self.const = require(arrays, prefix + "mean", (m,))
        self.alpha = require(arrays, prefix + "alpha", (m, n))
        self.L_inv = require(arrays, prefix + "L_inv", (m, n, n))
        diag = np.diagonal(self.L_inv, axis1=1, axis2=2)
        if np.any(diag <= 0) or np.any(np.triu(self.L_inv, 1) != 0):
            raise EmulatorFileError(f"{prefix}L_inv must be lower triangular with a positive "
                                    f"diagonal (the inverse Cholesky factor)")
        self.var_scale = (require(arrays, prefix + "var_scale", (m,), positive=True)
                          if prefix + "var_scale" in arrays else np.ones(m))
        self.lowrank = (require(arrays, prefix + "lowrank", (m, None, n))
                        if prefix + "lowrank" in arrays else None)
        self.var_add = (require(arrays, prefix + "var_add", (m, None, n))
                        if prefix + "var_add" in arrays else None)
        self.design = (require(arrays, prefix + "design_u", (None, d))
                       if prefix + "design_u" in arrays else None)
        self.inducing = bool(block.get("inducing", False))
        novelty = block.get("novelty") or {}
        thr = novelty.get("threshold") if isinstance(novelty, Mapping) else None
        if thr is not None:
            thr = np.asarray(thr, dtype=float)
            if thr.shape != (m,) or not np.all(np.isfinite(thr)) or np.any(thr <= 0):
                raise EmulatorFileError(f"the card's novelty threshold for {prefix!r} must be "
                                        f"{m} positive numbers")
        self.novelty_threshold = thr
        self.n_inputs, self.n_latent = d, m
        # Scaled training inputs and their squared norms, once (not per query).
        self._A = self.U[None, :, :] / self.lengthscale[:, None, :]
        self._a2 = np.einsum("mnd,mnd->mn", self._A, self._A)[:, :, None]
        self._prior = self.outputscale + self.noise

    def _r2(self, U: np.ndarray) -> np.ndarray:
        B = U[None, :, :] / self.lengthscale[:, None, :]
        r2 = self._a2 + np.einsum("mqd,mqd->mq", B, B)[:, None, :] - 2.0 * np.matmul(
            self._A, np.swapaxes(B, 1, 2))
        return np.maximum(r2, 0.0, out=r2)

    def cross_covariance(self, U: np.ndarray) -> np.ndarray:
        """``k(train_u, U)`` per output: ``(m, n, q)``."""
        return _profile(self.kernel, self._r2(U)) * self.outputscale[:, None, None]

    def __call__(self, U: np.ndarray, variance: str | None = "exact"
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance ``(q, m)``; ``variance`` is ``"exact"``, ``"lowrank"``
        (the stored factor; exact when the file has none) or ``None`` (mean only: the
        O(n²) variance is skipped and zeros are returned in its place)."""
        Ks = self.cross_covariance(U)
        mean = self.const[:, None] + np.matmul(self.alpha[:, None, :], Ks)[:, 0, :]
        if variance is None:
            return mean.T, np.zeros_like(mean.T)
        F = self.lowrank if variance == "lowrank" and self.lowrank is not None else self.L_inv
        v = np.matmul(F, Ks)
        red = np.einsum("mnq,mnq->mq", v, v)
        if self.var_add is not None:
            w = np.matmul(self.var_add, Ks)
            red -= np.einsum("mnq,mnq->mq", w, w)
        var = np.maximum(self._prior[:, None] - red, 0.0) * self.var_scale[:, None]
        return mean.T, var.T

    def novelty(self, U: np.ndarray) -> dict[str, np.ndarray]:
        """How unlike the training design each query is.

        Returns ``distance (q, m)``: to the nearest training run in each output's
        lengthscale units; ``score (q,)``: the largest ``distance / threshold`` over the
        outputs; ``flag (q,)``: ``score > 1`` (all False without a threshold in the card);
        ``variance_ratio (q, m)``: predictive over prior variance (uncalibrated).
        """
        design = self.design if self.design is not None else self.U
        A = design[None, :, :] / self.lengthscale[:, None, :]
        B = U[None, :, :] / self.lengthscale[:, None, :]
        best = np.full((self.n_latent, len(U)), np.inf)
        for i in range(0, len(design), 4096):  # bounded memory for large designs
            a = A[:, i:i + 4096]
            r2 = (np.einsum("mnd,mnd->mn", a, a)[:, :, None]
                  + np.einsum("mqd,mqd->mq", B, B)[:, None, :] - 2.0 * np.matmul(
                      a, np.swapaxes(B, 1, 2)))
            best = np.minimum(best, r2.min(axis=1))
        dist = np.sqrt(np.maximum(best, 0.0)).T
        _, var = self(U, "lowrank")
        ratio = var / (self._prior * self.var_scale)[None, :]
        if self.novelty_threshold is None:
            score = np.full(len(U), np.nan)
            flag = np.zeros(len(U), dtype=bool)
        else:
            score = (dist / self.novelty_threshold[None, :]).max(axis=1)
            flag = score > 1.0
        return {"distance": dist, "score": score, "flag": flag, "variance_ratio": ratio}

    def train_inputs(self) -> np.ndarray | None:
        if self.inducing:
            return self.design
        return self.U

    def bytes_per_point(self) -> int:
        n, d = self.U.shape
        return 8 * self.n_latent * (3 * n + 2 * d + 4)

    def sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` joint draws of the latent functions at ``U``: ``(n, q, m)`` (noise-free)."""
        mean, _ = self(U)
        Ks = self.cross_covariance(U)
        Kss = kernel_matrix(self.kernel, U, U, self.lengthscale, self.outputscale)
        V = np.matmul(self.L_inv, Ks)
        cov = Kss - np.matmul(np.swapaxes(V, 1, 2), V)  # latent f, (m, q, q)
        if self.var_add is not None:
            W = np.matmul(self.var_add, Ks)
            cov += np.matmul(np.swapaxes(W, 1, 2), W)
        cov *= self.var_scale[:, None, None]
        w, E = np.linalg.eigh(cov)  # robust square root of a near-singular covariance
        root = E * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
        eps = rng.standard_normal((n, mean.shape[1], U.shape[0]))
        draws = mean.T[None] + np.einsum("mij,smj->smi", root, eps)
        return np.transpose(draws, (0, 2, 1))


def describe_fit(model: Mapping[str, Any]) -> list[str]:
    """Readable lines, one per latent output, for the card's ``model.fit`` entries (used by
    ``twinemu info``): status, iterations, loss, starts; old cards (a list of statuses)
    give one line per start."""
    lines = []
    for i, f in enumerate(model.get("fit") or []):
        if isinstance(f, Mapping):
            starts = f.get("starts") or []
            won = f"{len(starts)} starts" if starts else ""
            lines.append(f"{f.get('output', i)}: {f.get('status')} after "
                         f"{f.get('iterations')} iterations, loss {f.get('loss')} per run "
                         f"on {f.get('n_fit')} runs" + (f" ({won})" if won else ""))
        else:
            lines.append(f"start {i}: {f}")
    return lines
