"""``GaussianProcess``: the exact-GP emulator (gpytorch), one independent GP per output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gpytorch
import numpy as np
import torch

from emulators.base import Emulator
from emulators.gp.fit import FitReport, fit_mll
from emulators.gp.model import KERNELS, BatchIndependentGP, make_likelihood
from emulators.outputs import OutputTransform
from emulators.runtime.gp import GPPredictor


class GaussianProcess(Emulator):
    """Exact Gaussian-process emulator with ARD kernel and marginal-likelihood fitting.

    Inputs are scaled to the unit cube by the parameter space (log scale for log-uniform
    parameters); each latent output is standardised; waveforms may be reduced by PCA.
    Hyperparameters maximise the exact marginal likelihood (L-BFGS), from ``restarts``
    starting points; each output keeps its best start.

    Parameters
    ----------
    kernel : {"matern52", "matern32", "rbf"}
        Stationary ARD kernel.
    restarts : int
        Number of optimisation starts (the first from lengthscale 0.5, the others random
        log-uniform in [0.05, 2] per input).
    max_iter : int
        L-BFGS iteration cap per start; the fit stops earlier when the loss change is
        below ``tol``.
    noise_floor : float
        Lower bound of the noise variance of the standardised outputs.  The default 1e-6
        (a noise s.d. of 0.1% of the output's spread) keeps the kernel matrix well
        conditioned for deterministic simulators; larger values regularise.
    pca : float or int, optional
        Reduce waveform outputs to principal components (a variance fraction such as
        0.999, or a count).  Scalars are never reduced.
    seed : int, optional
        Seed of the random restarts.
    """

    kind = "gp"

    def __init__(self, kernel: str = "matern52", *, restarts: int = 3, max_iter: int = 200,
                 tol: float = 1e-9, noise_floor: float = 1e-6, pca: float | int | None = None,
                 seed: int | None = 0):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        if pca is not None and not ((isinstance(pca, float) and 0 < pca < 1) or (
                isinstance(pca, int) and not isinstance(pca, bool) and pca >= 1)):
            raise ValueError(f"pca must be a variance fraction in (0, 1) or a component "
                             f"count >= 1, got {pca!r}")
        self.kernel = kernel
        self.restarts = int(restarts)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.noise_floor = float(noise_floor)
        self.pca = pca
        self.seed = seed
        self.fit_reports: list[FitReport] = []
        self._model: BatchIndependentGP | None = None

    def __repr__(self) -> str:
        return f"GaussianProcess(kernel={self.kernel!r}, restarts={self.restarts}, pca={self.pca})"

    # -- hooks ----------------------------------------------------------------------------
    def _make_output_transform(self, Y: Mapping[str, np.ndarray], units) -> OutputTransform:
        return OutputTransform.fit(Y, units, pca=self.pca)

    def _fit(self, U: np.ndarray, Z: np.ndarray) -> None:
        n, d = U.shape
        m = Z.shape[1]
        x = torch.as_tensor(U, dtype=torch.float64).expand(m, n, d).contiguous()
        y = torch.as_tensor(Z.T, dtype=torch.float64).contiguous()
        gen = torch.Generator().manual_seed(self.seed if self.seed is not None else 0)
        best_loss = torch.full((m,), float("inf"), dtype=torch.float64)
        best_state: dict[str, torch.Tensor] | None = None
        self.fit_reports = []
        with _exact_settings():
            likelihood = make_likelihood(m, self.noise_floor).double()
            model = BatchIndependentGP(x, y, likelihood, self.kernel).double()
            mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
            for r in range(self.restarts):
                _initialise(model, r, gen)
                report = fit_mll(mll, max_iter=self.max_iter, tol=self.tol)
                self.fit_reports.append(report)
                loss = torch.tensor(report.loss if len(report.loss) == m else [float("nan")] * m,
                                    dtype=torch.float64)
                better = torch.isfinite(loss) & (loss < best_loss)
                if best_state is None:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if better.any():
                    for k, v in model.state_dict().items():
                        if v.dim() >= 1 and v.shape[0] == m:
                            best_state[k][better] = v.detach()[better]
                    best_loss = torch.where(better, loss, best_loss)
            if not torch.isfinite(best_loss).all():
                bad = torch.nonzero(~torch.isfinite(best_loss)).ravel().tolist()
                raise ValueError(
                    f"the GP fit failed for latent outputs {bad} from every start "
                    f"({self.fit_reports[-1].message}); check the training data for "
                    f"duplicated inputs with different outputs, or raise noise_floor"
                )
            model.load_state_dict(best_state)
            model.eval()
            likelihood.eval()
        self._model = model
        self._x_train = x
        # Predictions use the closed-form posterior on these arrays: the very computation
        # the twin runtime does, so an exported file predicts exactly what this object does.
        self._arrays = {k: np.ascontiguousarray(v, dtype=np.float64)
                        for k, v in self._posterior_arrays().items()}
        self._predictor = GPPredictor({"model": {"kernel": self.kernel}}, self._arrays)

    def _predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._predictor(U)

    def gpytorch_posterior(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance (noise included) from gpytorch's own prediction code."""
        m = self._model.train_targets.shape[0]
        x = torch.as_tensor(U, dtype=torch.float64).expand(m, *U.shape).contiguous()
        with torch.no_grad(), _exact_settings():
            f = self._model(x)
            noise = self._model.likelihood.noise.detach().reshape(-1, 1)
            return f.mean.numpy().T, (f.variance + noise).numpy().T

    def _sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._predictor.sample(U, n, rng)

    def _export_arrays(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)

    def _posterior_arrays(self) -> dict[str, np.ndarray]:
        model = self._model
        with torch.no_grad(), _exact_settings():
            x = self._x_train
            y = model.train_targets
            K = model.covar_module(x).to_dense()
            noise = model.likelihood.noise.detach().reshape(-1)
            n = x.shape[1]
            Kn = K + noise[:, None, None] * torch.eye(n, dtype=K.dtype)
            L = torch.linalg.cholesky(Kn)
            eye = torch.eye(n, dtype=K.dtype).expand_as(L)
            L_inv = torch.linalg.solve_triangular(L, eye, upper=False)
            const = model.mean_module.constant.detach().reshape(-1)
            resid = (y - const[:, None]).unsqueeze(-1)
            alpha = torch.cholesky_solve(resid, L).squeeze(-1)
            base = model.covar_module.base_kernel
            return {
                "gp.train_u": x[0].numpy(),
                "gp.lengthscale": base.lengthscale.detach().reshape(len(y), -1).numpy(),
                "gp.outputscale": model.covar_module.outputscale.detach().reshape(-1).numpy(),
                "gp.noise": noise.numpy(),
                "gp.mean": const.numpy(),
                "gp.alpha": alpha.numpy(),
                "gp.L_inv": L_inv.numpy(),
            }

    def _card_model(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "restarts": self.restarts, "pca": self.pca,
                "fit": [r.status for r in self.fit_reports]}

    @property
    def hyperparameters(self) -> dict[str, np.ndarray]:
        """Fitted lengthscales (unit-cube scale), signal and noise variances per latent output."""
        a = self._export_arrays()
        return {"lengthscale": a["gp.lengthscale"], "outputscale": a["gp.outputscale"],
                "noise": a["gp.noise"]}


def _initialise(model: BatchIndependentGP, restart: int, gen: torch.Generator) -> None:
    base = model.covar_module.base_kernel
    m, _, d = base.lengthscale.shape
    with torch.no_grad():
        if restart == 0:
            ls = torch.full((m, 1, d), 0.5, dtype=torch.float64)
        else:  # log-uniform in [0.05, 2]
            u = torch.rand((m, 1, d), generator=gen, dtype=torch.float64)
            ls = torch.exp(np.log(0.05) + u * (np.log(2.0) - np.log(0.05)))
        base.lengthscale = ls
        model.covar_module.outputscale = torch.ones(m, dtype=torch.float64)
        model.mean_module.constant.zero_()
        model.likelihood.noise = torch.full((m, 1), 1e-4, dtype=torch.float64)


class _exact_settings:
    """Cholesky-based exact inference (no CG / Lanczos approximations)."""

    def __enter__(self):
        self._ctx = [gpytorch.settings.fast_computations(False, False, False),
                     gpytorch.settings.max_cholesky_size(100_000)]
        for c in self._ctx:
            c.__enter__()
        return self

    def __exit__(self, *exc):
        for c in reversed(self._ctx):
            c.__exit__(*exc)
