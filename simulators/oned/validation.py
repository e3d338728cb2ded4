"""Comparison with the digitised 3D reference waveforms of Boileau et al. 2015 cases 2 and 3.

The reference (Xiao, Alastruey & Figueroa 2014; digitised in chezzoba/ArterialWaveSolutions)
is read from the shared data folder, never copied.  Its time axis starts at a different
phase of the cycle than the openBF inflow table we prescribe, so the two are aligned by the
shift that best matches our inflow to the reference's digitised inflow (the flow imposed in
both models); the pressures play no part in the alignment.

Errors, as in Boileau et al. 2015: pressure, √(mean(((P_1D − P_3D)/P_3D)²)); flow,
√(mean((Q_1D − Q_3D)²))/max|Q_3D|, over the digitised samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulators.oned.io import load_network
from simulators.oned.record import Solution
from simulators.oned.solver import simulate

ML = 1e-6

#: case -> (our network file, vessel, inflow reference, [(file, x, quantity)])
CASES = {
    "cca": ("boileau_cca.yaml", "common_carotid_artery",
            "common_carotid_artery/CC_inlet_BC.csv",
            [("common_carotid_artery/inlet_pressure.csv", 0.0, "P"),
             ("common_carotid_artery/mid_pressure.csv", 0.5, "P"),
             ("common_carotid_artery/outlet_pressure.csv", 1.0, "P")]),
    "uta": ("boileau_uta.yaml", "upper_thoracic_aorta", "uper_thoracic_aorta/UTA_BC.csv",
            [("uper_thoracic_aorta/Inlet_pressure.csv", 0.0, "P"),
             ("uper_thoracic_aorta/midpoint_pressure.csv", 0.5, "P"),
             ("uper_thoracic_aorta/outlet_pressure.csv", 1.0, "P"),
             ("uper_thoracic_aorta/midpoint_flow.csv", 0.5, "Q"),
             ("uper_thoracic_aorta/outlet_flow.csv", 1.0, "Q")]),
}


@dataclass
class Comparison:
    """Errors per (site, quantity) and what is needed to plot them."""

    case: str
    vessel: str
    shift: float
    errors: dict[tuple[float, str], float]
    solution: Solution
    reference: dict[tuple[float, str], tuple[np.ndarray, np.ndarray]]


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = np.loadtxt(path, delimiter=",", ndmin=2)
    order = np.argsort(d[:, 0])
    return d[order, 0], d[order, 1]


def _at(sol_t: np.ndarray, y: np.ndarray, t: np.ndarray, period: float) -> np.ndarray:
    return np.interp(np.mod(t, period), sol_t, y, period=period)


def compare(case: str, data_dir: str | Path, networks_dir: str | Path, **options
            ) -> Comparison:
    """Run ``case`` ("cca" or "uta") to its periodic state and compare with the 3D data.

    ``data_dir``: the shared ``data/oned/digitised_3d`` folder; ``networks_dir``: our
    ``conf/simulator/networks``; ``options`` go to :func:`simulate`.
    """
    fname, vessel, bc, files = CASES[case]
    data_dir = Path(data_dir)
    net = load_network(Path(networks_dir) / fname)
    sol = simulate(net, sites=[(vessel, x) for x in (0.0, 0.5, 1.0)], **options)
    period = sol.period
    tb, qb = _read(data_dir / bc)
    q_in = sol.flow(vessel, 0.0) / ML
    shifts = np.linspace(-0.25, 0.25, 5001) * period
    cost = [np.mean((_at(sol.t, q_in, tb + s, period) - qb) ** 2) for s in shifts]
    shift = float(shifts[int(np.argmin(cost))])
    errors, ref = {}, {}
    for f, x, kind in files:
        t, y = _read(data_dir / f)
        if kind == "P":
            sim = _at(sol.t, sol.pressure(vessel, x), t + shift, period)
            errors[(x, "P")] = float(np.sqrt(np.mean(((sim - y) / y) ** 2)))
            ref[(x, "P")] = (np.mod(t + shift, period), y)
        else:
            sim = _at(sol.t, sol.flow(vessel, x) / ML, t + shift, period)
            errors[(x, "Q")] = float(np.sqrt(np.mean((sim - y) ** 2)) / np.max(np.abs(y)))
            ref[(x, "Q")] = (np.mod(t + shift, period), y * ML)
    return Comparison(case, vessel, shift, errors, sol, ref)
