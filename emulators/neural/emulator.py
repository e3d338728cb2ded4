"""``NeuralEnsemble``: a deep ensemble emulator (Lakshminarayanan et al. 2017) for large
campaigns, where an exact GP's O(n³) fit and O(n²) queries no longer pay."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from emulators.base import Emulator
from emulators.outputs import OutputTransform
from emulators.runtime.ensemble import EnsemblePredictor


class NeuralEnsemble(Emulator):
    """Deep ensemble of MLPs with mean and variance heads, and calibrated intervals.

    ``members`` networks, each from its own seed and its own validation split, are trained
    on the Gaussian negative log-likelihood (β-NLL) of the standardised latent outputs
    (PCA components for waveforms, as for the GP).  Prediction is the mixture: total
    variance = mean aleatoric variance + spread of the members' means (epistemic).  A
    held-out calibration split (``calibration_fraction`` of the runs, never trained on)
    then fits one variance scale per latent output by maximum likelihood,
    ``s_j = mean((z − μ)² / σ²)`` (Kuleshov et al. 2018 style recalibration), so 95%
    intervals mean 95%; the scales are recorded in the card.

    Parameters
    ----------
    members : int
        Ensemble size K (default 5).
    hidden : tuple of int
        Hidden layer widths.
    epochs, patience : int
        Epoch cap, and epochs without validation improvement before a member stops.
    lr, weight_decay : float
        AdamW settings (cosine decay of the learning rate to 1% over ``epochs``).
    batch_size : int
        Minibatch size (the whole training set when larger).
    beta : float
        β of the β-NLL loss (0: plain NLL; 0.5 balances mean and variance fits).
    val_fraction, calibration_fraction : float
        Early-stopping split of each member, and the calibration split (0 disables the
        calibration; it also needs at least 20 runs).
    pca : float or int, optional
        PCA of waveform outputs, as for the GP.
    checkpoint : path, optional
        A ``.safetensors`` file saved during training; a killed fit resumes from it.
    device : str
        ``"cpu"`` (default) or ``"cuda"`` where a GPU is present (exported weights are
        always numpy).
    checkpoint_every : int
        Epochs between checkpoints.
    threads : int, optional
        torch threads while training (default 1: these small dense layers train several
        times faster on one thread than on two busy ones; raise it for wide networks).
    """

    kind = "ensemble"

    def __init__(self, members: int = 5, hidden: tuple[int, ...] | list[int] = (64, 64), *,
                 epochs: int = 1000, patience: int = 100, lr: float = 1e-2,
                 weight_decay: float = 1e-5, batch_size: int = 256, beta: float = 0.5,
                 val_fraction: float = 0.15, calibration_fraction: float = 0.1,
                 min_var: float = 1e-6, pca: float | int | None = None, seed: int | None = 0,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 50,
                 device: str = "cpu",
                 threads: int | None = None, progress: bool = False):
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if members < 1 or not hidden or min(hidden) < 1:
            raise ValueError("members must be >= 1 and hidden a non-empty list of widths >= 1")
        if not 0 < val_fraction < 0.5 or not 0 <= calibration_fraction < 0.5:
            raise ValueError("val_fraction must lie in (0, 0.5) and calibration_fraction "
                             "in [0, 0.5)")
        if epochs < 1 or patience < 1 or batch_size < 1 or not lr > 0 or min_var <= 0:
            raise ValueError("epochs, patience, batch_size, lr and min_var must be positive")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        self.members, self.hidden = int(members), hidden
        self.epochs, self.patience = int(epochs), int(patience)
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.batch_size, self.beta = int(batch_size), float(beta)
        self.val_fraction = float(val_fraction)
        self.calibration_fraction = float(calibration_fraction)
        self.min_var, self.pca = float(min_var), pca
        self.seed = 0 if seed is None else int(seed)
        self.checkpoint, self.device = checkpoint, device
        self.checkpoint_every = int(checkpoint_every)
        self.threads, self.progress = threads, bool(progress)
        self.report = None
        self.calibration: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"NeuralEnsemble(members={self.members}, hidden={self.hidden})"

    def _make_output_transform(self, Y: Mapping[str, np.ndarray], units) -> OutputTransform:
        return OutputTransform.fit(Y, units, pca=self.pca)

    # -- fitting --------------------------------------------------------------------------
    def _fit(self, U: np.ndarray, Z: np.ndarray) -> None:
        import torch

        from emulators.neural.model import BatchedMLP
        from emulators.neural.train import train

        n, d = U.shape
        m = Z.shape[1]
        rng = np.random.default_rng(self.seed)
        n_cal = int(round(self.calibration_fraction * n)) if n >= 20 else 0
        order = rng.permutation(n)
        cal, rest = order[:n_cal], order[n_cal:]
        n_val = max(1, int(round(self.val_fraction * len(rest))))
        train_mask = np.zeros((self.members, n), bool)
        val_mask = np.zeros((self.members, n), bool)
        for k in range(self.members):  # each member its own early-stopping split
            perm = np.random.default_rng([self.seed, k]).permutation(rest)
            val_mask[k, perm[:n_val]] = True
            train_mask[k, perm[n_val:]] = True
        key = hashlib.sha256(np.ascontiguousarray(U).tobytes() + np.ascontiguousarray(
            Z).tobytes() + json.dumps(self._settings(), sort_keys=True).encode()).hexdigest()
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no GPU on this machine; use "
                             "device='cpu'")
        threads = self.threads or 1
        old_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            gen = torch.Generator().manual_seed(self.seed)
            model = BatchedMLP(self.members, d, self.hidden, m, min_var=self.min_var,
                               generator=gen)
            self.report = train(model, U, Z, train_mask, val_mask, epochs=self.epochs,
                                patience=self.patience, lr=self.lr,
                                weight_decay=self.weight_decay,
                                batch_size=min(self.batch_size, int(train_mask[0].sum())),
                                beta=self.beta, seed=self.seed, checkpoint=self.checkpoint,
                                checkpoint_every=self.checkpoint_every,
                                checkpoint_key=key, progress=self.progress,
                                device=self.device)
        finally:
            torch.set_num_threads(old_threads)
        self._arrays = {f"nn.W{i}": W.detach().cpu().numpy().copy()
                        for i, W in enumerate(model.weights)}
        self._arrays.update({f"nn.b{i}": b.detach().cpu().numpy().copy()
                             for i, b in enumerate(model.biases)})
        self._arrays["nn.var_scale"] = np.ones(m)
        self._predictor = EnsemblePredictor(self._card(), self._arrays)
        self._model = model
        self._calibrate(U[cal], Z[cal])

    def _calibrate(self, U: np.ndarray, Z: np.ndarray) -> None:
        """One variance scale per latent output, by maximum likelihood on held-out runs."""
        if len(U) < 2:
            if self.calibration_fraction > 0:
                warnings.warn("too few runs (< 20) to hold out a calibration split; the "
                              "ensemble's intervals are not calibrated", UserWarning,
                              stacklevel=4)
            self.calibration = {"method": "none", "n": 0}
            return
        mean, var = self._predictor(U)
        scale = np.mean((Z - mean) ** 2 / var, axis=0)  # argmax_s Σ log N(z; μ, s σ²)
        scale = np.clip(scale, 1e-3, 1e3)
        self._arrays["nn.var_scale"] = scale
        self._predictor = EnsemblePredictor(self._card(), self._arrays)
        self.calibration = {"method": "variance scale per latent output (maximum "
                                      "likelihood on a held-out split)",
                            "n": int(len(U)), "scale": scale.tolist()}

    # -- prediction ---------------------------------------------------------------------
    def _predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._predictor(U)

    def torch_predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mixture mean and (calibrated) variance from the torch model itself."""
        import torch

        with torch.no_grad():
            device = next(self._model.parameters()).device
            mu, var = self._model(torch.as_tensor(U, dtype=torch.float64, device=device))
            mean = mu.mean(0)
            total = (var + mu**2).mean(0) - mean**2
        return (mean.cpu().numpy(),
                total.clamp(min=0).cpu().numpy() * self._arrays["nn.var_scale"])

    def _sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._predictor.sample(U, n, rng)

    # -- export -------------------------------------------------------------------------
    def _export_arrays(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)

    def _card(self) -> dict[str, Any]:
        return {"inputs": [None] * self._arrays["nn.W0"].shape[1],
                "model": self._card_model()}

    def _settings(self) -> dict[str, Any]:
        return {"members": self.members, "hidden": list(self.hidden), "epochs": self.epochs,
                "patience": self.patience, "lr": self.lr, "weight_decay": self.weight_decay,
                "batch_size": self.batch_size, "beta": self.beta, "seed": self.seed,
                "val_fraction": self.val_fraction,
                "calibration_fraction": self.calibration_fraction, "min_var": self.min_var}

    def _card_model(self) -> dict[str, Any]:
        return {"layers": len(self.hidden) + 1, "activation": "silu", "min_var": self.min_var,
                **self._settings(), "calibration": self.calibration,
                "training": self.report.to_dict() if self.report else {},
                "training_inputs": "none kept: a check cannot exclude training runs"}
