"""A Windkessel twin with known truth, shared by the calibration tests (fitted once)."""

from __future__ import annotations

import numpy as np
import pytest

from emulators import GaussianProcess
from simulators.design import Parameter, ParameterSpace
from simulators.zerod import WindkesselSimulator

T = 50  # phase points of the waveform
TRUTH = {"R_p": 1.2e8, "C": 1.1e-8, "dummy": 0.5}
NOISE_SD = 150.0  # Pa (~1.1 mmHg)


class WindkesselTwin:
    """The simulator, a GP emulator of its pressure waveform and mean pressure on
    (R_p, C, dummy) — ``dummy`` is an input that no output depends on — and the truth."""

    def __init__(self) -> None:
        self.sim = WindkesselSimulator(
            [{"name": "R_p", "low": 0.8e8, "high": 1.6e8, "unit": "Pa s m^-3"},
             {"name": "C", "low": 0.8e-8, "high": 1.6e-8, "unit": "m^3 Pa^-1"}],
            fixed={"Zc": 6e6, "HR": 70, "SV": 75, "P_out": 0.0}, phase_points=T)
        self.space = ParameterSpace([*self.sim.space.parameters,
                                     Parameter("dummy", 0.0, 1.0, unit="1")])
        X = self.space.sample(40, seed=0)
        runs = [self.sim(p) for p in self.sim.space.points(X[:, :2])]
        Y = {k: np.array([r[k] for r in runs]) for k in ("p_wave", "p_mean")}
        self.gp = GaussianProcess(restarts=1, pca=6).fit(
            X, Y, space=self.space, units={"p_wave": "Pa", "p_mean": "Pa"})
        self.clean = self.sim({k: TRUTH[k] for k in ("R_p", "C")})

    def observations(self, seed: int, *, bias: np.ndarray | float = 0.0,
                     index: np.ndarray | None = None) -> dict:
        """Noisy waveform observations at the truth (optionally at some phases only)."""
        rng = np.random.default_rng(seed)
        z = self.clean["p_wave"] + bias + NOISE_SD * rng.standard_normal(T)
        out = {"values": z.tolist(), "unit": "Pa", "sd": NOISE_SD}
        if index is not None:
            out = {"values": z[index].tolist(), "unit": "Pa", "sd": NOISE_SD,
                   "index": (np.asarray(index) / T).tolist()}
        return {"outputs": {"p_wave": out}}


@pytest.fixture(scope="package")
def twin() -> WindkesselTwin:
    return WindkesselTwin()
