"""Adaptive design: add runs where the emulator is unsure, in batches, until a held-out
error target or a run budget is met.

Our Gaussian process is wrapped as an emukit model (:class:`EmukitGP`: ``IModel`` and
``ICalculateVarianceReduction``), so emukit's experimental-design acquisitions score
candidate points:

* ``variance`` — :class:`emukit.experimental_design.acquisitions.ModelVariance`: the
  posterior variance at the candidate (uncertainty sampling);
* ``ivr`` — :class:`~emukit.experimental_design.acquisitions.IntegratedVarianceReduction`:
  how much running the candidate would shrink the variance averaged over the space
  (Sacks et al. 1989, IMSE; Gramacy 2020 §6.2.2).

A batch is chosen greedily: after each pick the model is conditioned on the picked point
with its hyperparameters fixed (a GP's variance does not depend on the outputs, so no run
is needed), and the acquisition is evaluated again.  Variances are those of the latent
(standardised, PCA) outputs, each divided by its signal variance and summed, so every
output counts alike.  Each round refits the emulator on all runs so far, validates it on
the held-out runs, and runs the next batch through the campaign runner: the runs land in
the archive with ids ``train-a<round>-<k>`` (the round is in the id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emulators.errors import ConfigError

log = logging.getLogger("twinemu")

ACQUISITIONS = ("variance", "ivr")


class EmukitGP:
    """A fitted :class:`~emulators.GaussianProcess` as an emukit model on the unit cube.

    ``predict(U)`` returns the first latent output's mean and the summed normalised latent
    variance (of the GP before its variance calibration: a per-output constant that does
    not change where the variance is large), shapes ``(n, 1)``; ``set_data`` conditions on
    new inputs with the fitted hyperparameters (outputs are not needed for variances);
    ``optimize`` does nothing (the adaptive loop refits between rounds).
    """

    def __init__(self, emulator: Any):
        arrays = getattr(emulator, "_export_arrays", lambda: {})()
        if "gp.train_u" not in arrays:
            raise ConfigError("the adaptive design needs a GaussianProcess emulator "
                              "(emulators.GaussianProcess); got "
                              f"{type(emulator).__name__}")
        self.kind = emulator.kernel
        self.ls = arrays["gp.lengthscale"]  # (m, d)
        self.scale = arrays["gp.outputscale"]  # (m,)
        self.noise = arrays["gp.noise"]  # (m,)
        self._emulator = emulator
        self._set(arrays["gp.train_u"])

    # emukit's IModel
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self._emulator._predict(np.asarray(X, float))[0][:, :1]
        return mean, self._variance(np.asarray(X, float))[:, None]

    def set_data(self, X: np.ndarray, Y: np.ndarray | None = None) -> None:
        self._set(np.asarray(X, float))

    def optimize(self) -> None:
        return None

    @property
    def X(self) -> np.ndarray:
        return self._U

    @property
    def Y(self) -> np.ndarray:
        return np.zeros((len(self._U), 1))

    # emukit's ICalculateVarianceReduction
    def calculate_variance_reduction(self, x_train_new: np.ndarray, x_test: np.ndarray
                                     ) -> np.ndarray:
        """Variance reduction at ``x_test`` ``(n, d)`` from one run at ``x_train_new``
        ``(1, d)``: ``cov(x_test, x)² / (var(x) + noise)`` per latent output, normalised
        and summed; shape ``(n, 1)``."""
        if self._test_key is not x_test:  # emukit passes the same Monte Carlo points
            self._test_key, self._test_solved = x_test, self._solve(x_test)
        c = (self._k(x_test, x_train_new)
             - np.swapaxes(self._test_solved, 1, 2) @ self._solve(x_train_new))[:, :, 0]
        v = self._cov_diag(x_train_new)[:, 0] + self.noise  # (m,)
        return ((c**2 / v[:, None]) / self.scale[:, None]).sum(axis=0)[:, None]

    # -- posterior covariances with fixed hyperparameters ---------------------------------
    def _k(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        from emulators.runtime.gp import kernel_matrix

        return kernel_matrix(self.kind, A, B, self.ls, self.scale)

    def _set(self, U: np.ndarray) -> None:
        self._U = np.asarray(U, float)
        K = self._k(self._U, self._U) + self.noise[:, None, None] * np.eye(len(self._U))
        self._L = np.linalg.cholesky(K)
        self._test_key, self._test_solved = None, None

    def _solve(self, A: np.ndarray) -> np.ndarray:
        """``L⁻¹ k(U, A)``, shape ``(m, n_train, len(A))``."""
        return np.linalg.solve(self._L, self._k(self._U, A))

    def _cov(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return self._k(A, B) - np.swapaxes(self._solve(A), 1, 2) @ self._solve(B)

    def _cov_diag(self, A: np.ndarray) -> np.ndarray:
        s = self._solve(A)
        return np.maximum(self.scale[:, None] - (s**2).sum(axis=1), 0.0)

    def _variance(self, A: np.ndarray) -> np.ndarray:
        return (self._cov_diag(A) / self.scale[:, None]).sum(axis=0)


def choose_batch(model: EmukitGP, k: int, *, acquisition: str = "ivr",
                 candidates: np.ndarray, x_monte_carlo: np.ndarray | None = None
                 ) -> np.ndarray:
    """Indices of ``k`` rows of ``candidates`` (unit cube) picked greedily by the emukit
    acquisition, conditioning the model on each pick."""
    from emukit.core import ContinuousParameter, ParameterSpace
    from emukit.experimental_design.acquisitions import (
        IntegratedVarianceReduction,
        ModelVariance,
    )

    if acquisition not in ACQUISITIONS:
        raise ConfigError(f"unknown acquisition {acquisition!r}; choose one of "
                          f"{', '.join(ACQUISITIONS)}")
    d = candidates.shape[1]
    space = ParameterSpace([ContinuousParameter(f"u{j}", 0.0, 1.0) for j in range(d)])
    U0 = model.X.copy()
    picked: list[int] = []
    for _ in range(k):
        if acquisition == "variance":
            acq = ModelVariance(model)
        else:
            acq = IntegratedVarianceReduction(model, space, x_monte_carlo=x_monte_carlo)
        score = acq.evaluate(candidates).ravel()
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        model.set_data(np.vstack([model.X, candidates[best:best + 1]]))
    model.set_data(U0)
    return np.array(picked)


@dataclass
class Round:
    """One round of the adaptive loop: the emulator on ``n_runs`` runs, its held-out
    errors, and the batch it asked for next."""

    round: int
    n_runs: int
    r2_min: float
    nrmse_max: float
    added: int


def held_out_errors(emulator: Any, X_test: np.ndarray, Y_test: Mapping[str, np.ndarray]
                    ) -> tuple[float, float]:
    """Smallest R² and largest NRMSE (RMSE / range of the held-out outputs) over outputs."""
    pred = emulator.predict_dict(X_test)
    r2, nrmse = [], []
    for name, y in Y_test.items():
        y = np.asarray(y, float).reshape(len(X_test), -1)
        mu = np.asarray(pred[name][0], float).reshape(len(X_test), -1)
        ss = ((y - y.mean(axis=0)) ** 2).sum()
        r2.append(1.0 - ((y - mu) ** 2).sum() / ss if ss > 0 else np.nan)
        span = y.max() - y.min()
        nrmse.append(np.sqrt(((y - mu) ** 2).mean()) / span if span > 0 else np.nan)
    return float(np.nanmin(r2)), float(np.nanmax(nrmse))


def warm_start(emulator: Any, previous: Any | None) -> Any:
    """Give ``emulator`` (unfitted) the hyperparameters of ``previous`` (fitted on a
    smaller design) as the first start of each output's fit; returns ``emulator``.

    The best start still wins, so a warm start can only raise the marginal likelihood
    reached; it keeps a refit on a grown design from falling into a poorer optimum (such
    as the all-noise one) that fresh starts on few runs may reach."""
    hyper = getattr(previous, "_hyper", None)
    if hyper and hasattr(emulator, "warm_starts"):
        emulator.warm_starts = list(hyper)
    return emulator


def adaptive_loop(fit: Callable[[np.ndarray, dict[str, np.ndarray], Any], Any],
                  run: Callable[[np.ndarray, int], tuple[np.ndarray, dict[str, np.ndarray]]],
                  space: Any, X: np.ndarray, Y: dict[str, np.ndarray], X_test: np.ndarray,
                  Y_test: Mapping[str, np.ndarray], *, budget: int, batch: int = 8,
                  acquisition: str = "ivr", r2_target: float | None = None,
                  nrmse_target: float | None = None, n_candidates: int = 2000,
                  n_monte_carlo: int = 1000, seed: int | None = 0
                  ) -> tuple[Any, np.ndarray, dict[str, np.ndarray], list[Round]]:
    """Grow the design ``(X, Y)`` in batches until a target or the run ``budget`` is met.

    ``fit(X, Y, previous)`` returns a GaussianProcess fitted on ``(X, Y)``; ``previous``
    is the last round's emulator (``None`` in the first round), to warm-start from with
    :func:`warm_start`; ``run(X_new, round)`` simulates the
    batch and returns the successful ``(X_ok, Y_ok)``.  Returns the last emulator, the
    final design and outputs, and one :class:`Round` per fit.
    """
    if budget < len(X):
        raise ConfigError(f"the adaptive budget ({budget}) is below the initial design "
                          f"({len(X)} runs)")
    if batch < 1:
        raise ConfigError(f"the adaptive batch must be >= 1, got {batch}")
    rng = np.random.default_rng(seed)
    rounds: list[Round] = []
    X, Y = np.asarray(X, float), {k: np.asarray(v) for k, v in Y.items()}
    spent, r, emulator = len(X), 0, None
    while True:
        emulator = fit(X, Y, emulator)
        r2, nrmse = held_out_errors(emulator, X_test, Y_test)
        met = ((r2_target is None or r2 >= r2_target)
               and (nrmse_target is None or nrmse <= nrmse_target)
               and (r2_target is not None or nrmse_target is not None))
        k = min(batch, budget - spent)
        if met or k <= 0:
            rounds.append(Round(r, len(X), r2, nrmse, 0))
            log.info("adaptive round %d: %d runs, R² min %.5f, NRMSE max %.4f (%s)", r,
                     len(X), r2, nrmse, "target met" if met else "budget spent")
            return emulator, X, Y, rounds
        cand = rng.random((n_candidates, len(space)))
        mc = rng.random((n_monte_carlo, len(space)))
        pick = choose_batch(EmukitGP(emulator), k, acquisition=acquisition,
                            candidates=cand, x_monte_carlo=mc)
        rounds.append(Round(r, len(X), r2, nrmse, k))
        log.info("adaptive round %d: %d runs, R² min %.5f, NRMSE max %.4f; adding %d", r,
                 len(X), r2, nrmse, k)
        r += 1
        X_new, Y_new = run(space.from_unit(cand[pick]), r)
        spent += k
        X = np.vstack([X, X_new])
        Y = {n: np.concatenate([Y[n], Y_new[n]]) for n in Y}


def rounds_table(rounds: list[Round]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rounds]
