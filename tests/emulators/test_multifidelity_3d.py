"""A 1D level under an ingested 3D level: files written in FEniCS's HDF5 layout, read
through the adapters, combined with Poiseuille's law by the multi-fidelity GP."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from datasets import Archive
from emulators.pipeline import run_experiment
from tests.datasets.adapters import fixtures as fx

CONF = Path(__file__).resolve().parents[2] / "conf"
R, L = 1.0, 4.0  # mm
MU, RHO = 4e-3, 1000.0


def dp_3d(flow: float) -> float:
    """'3D' pressure drop, Pa: Poiseuille's 8 μ L Q / (π r⁴) plus a convective loss
    ½ ρ ū² (what a 1D model without entrance effects misses)."""
    r, length = R * 1e-3, L * 1e-3
    u = flow / (math.pi * r**2)
    return 8 * MU * length * flow / (math.pi * r**4) + 0.5 * RHO * u**2


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cfd")
    pts, tets = fx.cylinder(R, L, nr=3, nth=12, nz=3)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    runs = []
    for k, flow in enumerate(np.linspace(1.2e-6, 6.8e-6, 8)):
        U = flow / (math.pi * (R * 1e-3) ** 2)  # m/s = mm/ms
        u = fx.poiseuille(pts, R, U)
        p = dp_3d(flow) / RHO * (1 - pts[:, 2:3] / L)  # kinematic, mm²/ms²
        files = fx.write_fenics(root / f"run{k}", pts, tets, {"u": u[None], "p": p[None]},
                                [1.0], facets=(tris, tags), seed=k)
        runs.append({"id": f"run{k}", "inputs": {"flow": float(flow)},
                     "source": {n: str(v.relative_to(root)) for n, v in files.items()}})
    qois = {"velocity": "u", "pressure": "p", "inlet": 1, "outlets": [2], "wall": 3,
            "period": 1.0, "phase_points": 4, "flow_unit": "mL/s", "pressure_unit": "mmHg",
            "units": {"length": "mm", "time": "ms", "pressure": "kinematic",
                      "density": RHO, "viscosity": MU}}
    params = [{"name": "flow", "low": 1.0e-6, "high": 7.0e-6, "unit": "m^3/s"}]
    (root / "pipe_3d.yaml").write_text(yaml.safe_dump(
        {"parameters": params, "qois": qois, "runs": runs}, sort_keys=False))
    return root / "pipe_3d.yaml"


def test_1d_level_under_ingested_3d_runs(manifest, tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[
            "experiment=mf_3d", "progress=false", f"archive={tmp_path / 'a.h5'}"]),
            resolve=True)
    cfg["data"]["levels"][1]["manifest"] = str(manifest)
    cfg["data"]["outputs"]["dp"]["3d"] = "dp_tag2_mean"  # boundaries given as facet tags
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    with Archive.open(res.archives["3d"]) as ar:
        assert ar.output_spec("dp_tag2_mean").unit == "mmHg"
        flows = ar.inputs()[:, 0]
        dp = ar.output("dp_tag2_mean") * 133.322387415
    np.testing.assert_allclose(dp, [dp_3d(q) for q in flows], rtol=0.02)  # ingest is exact
    with Archive.open(res.archives["1d"]) as ar:  # the 1D level also ran at the 3D inputs
        at3d = ar.inputs()[ar.mask(run_prefix="at-3d-")][:, 0]
    np.testing.assert_allclose(np.sort(at3d), np.sort(flows), rtol=1e-12)
    levels = res.metrics["levels"]
    assert [lv["fidelity"] for lv in levels] == ["1d", "3d"]
    assert levels[0]["n"] == 16 + 8 and levels[1]["n"] == 6
    val = res.metrics["validation"]["outputs"]["dp"]
    assert val["r2"] > 0.99 and val["unit"] in ("Pa", "mmHg")
