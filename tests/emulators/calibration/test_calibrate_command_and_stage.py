"""``twinemu calibrate`` and the experiment's calibration stage write a full report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from emulators import GaussianProcess
from emulators.calibration.stage import CalibrationConfig, run_calibration_stage
from emulators.cli import main
from emulators.errors import ConfigError
from simulators.units import MMHG
from simulators.zerod import WindkesselSimulator

REPORT = {"summary.md", "summary.json", "corner.png", "predictive.png", "implausibility.png",
          "posterior.nc"}


def test_calibrate_command_writes_report(twin, tmp_path, capsys):
    emu_file = twin.gp.export(tmp_path / "wk.safetensors")
    rng = np.random.default_rng(0)
    z = (twin.clean["p_wave"] + 150.0 * rng.standard_normal(50)) / MMHG
    obs = tmp_path / "patient.yaml"
    obs.write_text(yaml.safe_dump({"outputs": {"p_wave": {
        "values": z.tolist(), "unit": "mmHg", "sd": 150.0 / MMHG}}}))
    out = tmp_path / "report"
    code = main(["calibrate", str(emu_file), str(obs), "--out", str(out), "--steps", "400",
                 "--walkers", "16", "--seed", "1", "--no-progress"])
    text = capsys.readouterr().out
    assert code in (0, 1)  # 1 only when not converged, and then the table says so
    assert ("NOT CONVERGED" in text) == (code == 1)
    assert REPORT <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["name"]: r for r in summary["parameters"]}
    assert rows["R_p"]["lo"] < 1.2e8 < rows["R_p"]["hi"]
    assert rows["dummy"]["identifiable"] is False
    assert 0 < summary["history_matching"]["nroy_fraction"] < 0.5


def test_calibrate_command_refuses_wrong_unit_before_sampling(twin, tmp_path, capsys):
    emu_file = twin.gp.export(tmp_path / "wk.safetensors")
    obs = tmp_path / "bad.yaml"
    obs.write_text(yaml.safe_dump({"outputs": {"p_wave": {
        "values": [5.0] * 50, "unit": "mL/s", "sd": 0.1}}}))
    code = main(["calibrate", str(emu_file), str(obs), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1
    assert "UnitError" in err and "cannot convert 'mL/s' (flow) to 'Pa'" in err
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def wk2():
    sim = WindkesselSimulator(
        [{"name": "R_p", "low": 0.8e8, "high": 1.6e8}, {"name": "C", "low": 0.8e-8,
                                                          "high": 1.6e-8}],
        fixed={"Zc": 6e6, "HR": 70, "SV": 75, "P_out": 0.0}, phase_points=40)
    X = sim.space.sample(24, seed=0)
    Y = {"p_wave": np.array([sim(p)["p_wave"] for p in sim.space.points(X)])}
    gp = GaussianProcess(restarts=1, pca=5).fit(X, Y, space=sim.space, units={"p_wave": "Pa"})
    return sim, gp


def test_stage_calibrates_a_synthetic_patient(wk2, tmp_path):
    sim, gp = wk2
    conf = {"synthetic": {"theta": {"R_p": 1.0e8, "C": 1.3e-8}, "outputs": ["p_wave"],
                          "noise_sd": 133.3, "seed": 3},
            "walkers": 16, "steps": 600, "history_matching": {"n": 5000}}
    metrics = run_calibration_stage(conf, gp, tmp_path, seed=0, simulator=sim)
    assert REPORT <= {p.name for p in (tmp_path / "calibration").iterdir()}
    assert metrics["covers_truth"] == {"R_p": True, "C": True}
    assert metrics["history_matching"]["nroy_fraction"] < 0.2
    json.dumps(metrics)  # JSON-able for metrics.json


def test_stage_config_is_checked(wk2, tmp_path):
    sim, gp = wk2
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['stepz'\]"):
        CalibrationConfig.from_dict({"observations": "x.yaml", "stepz": 10})
    with pytest.raises(ConfigError, match="exactly one of 'observations'"):
        CalibrationConfig.from_dict({"discrepancy": True})
    with pytest.raises(ConfigError, match="missing \\['outputs'\\]"):
        CalibrationConfig.from_dict({"synthetic": {"theta": {"R_p": 1e8, "C": 1e-8}}})
    with pytest.raises(ConfigError, match="every input"):
        run_calibration_stage({"synthetic": {"theta": {"R_p": 1e8}, "outputs": ["p_wave"]}},
                              gp, tmp_path, seed=0, simulator=sim)


def test_experiment_entry_has_a_valid_calibration_section():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from tests.test_configs import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", ["experiment=calibrate_oned_cca"]),
                                     resolve=True)
    conf = CalibrationConfig.from_dict(cfg["calibration"])
    assert set(conf.synthetic.theta) == {p["name"] for p in cfg["simulator"]["parameters"]}
    assert conf.synthetic.outputs[0] in cfg["emulate"]
