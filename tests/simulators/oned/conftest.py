"""Builders of small analytic test networks (twinemu format, SI units)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulators.oned.io import from_dict

NETWORKS = Path(__file__).resolve().parents[3] / "conf" / "simulator" / "networks"


def gaussian_inlet(vessel: str, period: float, q_peak: float = 1e-5, t0: float = 0.05,
                   width: float = 0.01) -> dict:
    """Q = q_peak·exp(−((t − t0)/width)²), tabulated every 0.25 ms over the pulse."""
    t = np.concatenate([np.arange(0.0, t0 + 15 * width, 0.25e-3), [period * 0.9]])
    q = q_peak * np.exp(-(((t - t0) / width) ** 2))
    return {"vessel": vessel, "period": period, "table": {"t": t.tolist(), "Q": q.tolist()}}


def vessel(label, src, dst, L, r, E, h, cells, zeta=2.0, **kw) -> dict:
    d = {"label": label, "from": src, "to": dst, "L": L, "E": E, "h0": h, "zeta": zeta,
         "P_ref": 0.0, "cells": cells}
    if isinstance(r, tuple):
        d["Rp"], d["Rd"] = r
    else:
        d["R0"] = r
    d.update(kw)
    return d


def network(vessels, inlet, outlets, rho=1000.0, mu=0.0, **kw):
    return from_dict({"format": "twinemu-oned/1", "name": "test", "blood": {"rho": rho, "mu": mu},
                      "vessels": vessels, "inlet": inlet, "outlets": outlets, **kw})


@pytest.fixture(scope="session")
def networks_dir() -> Path:
    return NETWORKS
