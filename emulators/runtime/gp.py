"""Exact GP predictor from exported arrays (numpy only).

``μ = c + k*ᵀα``, ``σ² = k** + σn² − |L⁻¹k*|²`` (Rasmussen & Williams 2006, Algorithm 2.1,
with ``L⁻¹`` stored), batched over ``m`` independent latent outputs.
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
    """Covariances ``(m, n1, n2)`` between unit-cube points for ``m`` outputs
    (R&W 2006 eq. 4.9 for RBF, eq. 4.17 for Matérn ν = 3/2, 5/2)."""
    # r² = |a|² + |b|² − 2 a·b on lengthscale-scaled inputs: one matmul per output.
    A = U1[None, :, :] / lengthscale[:, None, :]
    B = U2[None, :, :] / lengthscale[:, None, :]
    r2 = (np.einsum("mid,mid->mi", A, A)[:, :, None] + np.einsum("mjd,mjd->mj", B, B)[:, None, :]
          - 2.0 * np.matmul(A, np.swapaxes(B, 1, 2)))
    r2 = np.maximum(r2, 0.0)
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
    return outputscale[:, None, None] * k


@register
class GPPredictor:
    """``m`` independent exact GPs sharing training inputs, from arrays ``<prefix>*``.

    Arrays: ``train_u (n, d)``, ``lengthscale (m, d)``, ``outputscale (m,)``,
    ``noise (m,)``, ``mean (m,)``, ``alpha (m, n)``, ``L_inv (m, n, n)``.
    """

    kind: ClassVar[str] = "gp"
    default_prefix: ClassVar[str] = "gp."

    def __init__(self, card: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 prefix: str = "gp."):
        self.prefix = prefix
        self.kernel = block_card(card, prefix).get("kernel")
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
        self.n_inputs, self.n_latent = d, m

    def __call__(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Ks = kernel_matrix(self.kernel, self.U, U, self.lengthscale, self.outputscale)
        mean = self.const[:, None] + np.einsum("mn,mnq->mq", self.alpha, Ks)
        v = np.matmul(self.L_inv, Ks)
        var = self.outputscale[:, None] + self.noise[:, None] - np.einsum("mnq,mnq->mq", v, v)
        return mean.T, np.maximum(var, 0.0).T

    def train_inputs(self) -> np.ndarray:
        return self.U

    def bytes_per_point(self) -> int:
        n, d = self.U.shape
        return 8 * self.n_latent * (3 * n + 2 * d + 4)

    def sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` joint draws of the latent functions at ``U``: ``(n, q, m)`` (noise-free)."""
        mean, _ = self(U)
        Ks = kernel_matrix(self.kernel, self.U, U, self.lengthscale, self.outputscale)
        Kss = kernel_matrix(self.kernel, U, U, self.lengthscale, self.outputscale)
        V = np.matmul(self.L_inv, Ks)
        cov = Kss - np.matmul(np.swapaxes(V, 1, 2), V)  # latent f, (m, q, q)
        w, E = np.linalg.eigh(cov)  # robust square root of a near-singular covariance
        root = E * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
        eps = rng.standard_normal((n, mean.shape[1], U.shape[0]))
        draws = mean.T[None] + np.einsum("mij,smj->smi", root, eps)
        return np.transpose(draws, (0, 2, 1))
