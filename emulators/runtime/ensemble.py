"""Deep-ensemble predictor from exported arrays (numpy only).

``K`` multilayer perceptrons, batched: layer ``l`` has weights ``W{l} (K, fan_in, fan_out)``
and biases ``b{l} (K, fan_out)``, SiLU activations between layers; the last layer gives
each latent output's mean ``μ_k`` and variance ``σ²_k = softplus(s_k) + min_var``.  The
ensemble predicts the mixture (Lakshminarayanan et al. 2017, §2.4):

    μ = (1/K) Σ μ_k,   σ² = (1/K) Σ (σ²_k + μ_k²) − μ²

times a per-output variance scale fitted on held-out data (the calibration, in the card).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from emulators.errors import EmulatorFileError
from emulators.runtime.predictor import block_card, register, require

MAX_LAYERS = 16


def silu(x: np.ndarray) -> np.ndarray:
    """x·sigmoid(x), computed without overflow."""
    return x * 0.5 * (1.0 + np.tanh(0.5 * x))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


@register
class EnsemblePredictor:
    """Mixture of ``K`` MLPs with mean and variance heads, from arrays ``<prefix>*``."""

    kind: ClassVar[str] = "ensemble"
    default_prefix: ClassVar[str] = "nn."

    def __init__(self, card: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 prefix: str = "nn."):
        info = block_card(card, prefix)
        layers = info.get("layers")
        if not isinstance(layers, int) or not 1 <= layers <= MAX_LAYERS:
            raise EmulatorFileError(f"block {prefix!r}: 'layers' must be an integer in "
                                    f"[1, {MAX_LAYERS}]")
        self.min_var = float(info.get("min_var", 1e-6))
        if not self.min_var > 0:
            raise EmulatorFileError(f"block {prefix!r}: 'min_var' must be positive")
        d = len(card["inputs"]) if "inputs" in card else None
        self.W, self.b = [], []
        fan_in, K = d, None
        for li in range(layers):
            W = require(arrays, f"{prefix}W{li}", (K, fan_in, None))
            K, fan_in = W.shape[0], W.shape[2]
            self.W.append(W)
            self.b.append(require(arrays, f"{prefix}b{li}", (K, fan_in)))
        if fan_in % 2:
            raise EmulatorFileError(f"block {prefix!r}: the last layer must give a mean and "
                                    f"a variance per output (an even width)")
        self.n_inputs, self.n_latent, self.members = self.W[0].shape[1], fan_in // 2, K
        self.var_scale = require(arrays, f"{prefix}var_scale", (self.n_latent,),
                                 positive=True)
        self.width = max(W.shape[2] for W in self.W)

    def members_output(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each member's mean and variance ``(K, q, m)`` (before the calibration scale)."""
        h = U[None, :, :]
        for li, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            h = np.matmul(h, W) + b[:, None, :]
            if li < len(self.W) - 1:
                h = silu(h)
        m = self.n_latent
        return h[..., :m], softplus(h[..., m:]) + self.min_var

    def __call__(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, var = self.members_output(U)
        mean = mu.mean(axis=0)
        total = (var + mu**2).mean(axis=0) - mean**2
        return mean, np.maximum(total, 0.0) * self.var_scale

    def train_inputs(self) -> None:
        return None  # an ensemble keeps no training inputs

    def bytes_per_point(self) -> int:
        return 8 * self.members * (3 * self.width + 4 * self.n_latent)

    def sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws ``(n, q, m)``: each picks a member (the epistemic part, coherent across
        points) plus that member's independent noise, both scaled by the calibration, so
        the draws' variance is the predictive variance."""
        mu, var = self.members_output(U)
        mean, root_s = mu.mean(axis=0), np.sqrt(self.var_scale)
        k = rng.integers(0, self.members, size=n)
        eps = rng.standard_normal((n, *mu.shape[1:]))
        return mean + root_s * (mu[k] - mean) + root_s * np.sqrt(var[k]) * eps
