"""Experiments with fidelity levels: data.levels runs each level into its own archive on
nested designs, reads them through the output map, and reports the top-level baseline."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from datasets import Archive
from emulators.errors import ConfigError
from emulators.pipeline import run_experiment

CONF = Path(__file__).resolve().parents[2] / "conf"


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def _two_level_windkessel(cfg):
    """Two 'fidelities' of the Windkessel: the cheap one misses the characteristic
    impedance's ejection term (systolic fraction differs), the fine one is the default."""
    sim = dict(cfg["simulator"])
    coarse = dict(sim, systolic_fraction=0.30)
    cfg["simulator"] = None
    cfg["data"] = {"levels": [{"fidelity": "coarse", "simulator": coarse, "n_train": 24},
                              {"fidelity": "fine", "simulator": sim}],
                   "outputs": {"p_mean": {"coarse": "p_mean", "fine": "p_mean"},
                               "PP": {"unit": "mmHg", "coarse": "p_pulse",
                                      "fine": "p_pulse"}}}
    return cfg


def test_two_level_experiment_nests_designs_and_maps_outputs(tmp_path):
    cfg = _two_level_windkessel(_compose("experiment=quick", "progress=false",
                                         "executor=serial", "sensitivity.enabled=false",
                                         f"archive={tmp_path / 'a.h5'}"))
    cfg["design"] = {**cfg["design"], "n_train": 8, "n_test": 6}
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    assert set(res.archives) == {"coarse", "fine"}
    with Archive.open(res.archives["coarse"]) as lo, Archive.open(res.archives["fine"]) as hi:
        X_lo = lo.inputs()
        train_hi = hi.inputs()[hi.mask(run_prefix="train-")]
        assert len(X_lo) == 24 and len(train_hi) == 8 and len(hi) == 14
        # nested: every fine training point is a coarse point
        assert all(np.isclose(X_lo, x, rtol=1e-12).all(axis=1).any() for x in train_hi)
        p_pulse = hi.output("p_pulse")[hi.mask(run_prefix="train-")]
    assert [lv["fidelity"] for lv in res.metrics["levels"]] == ["coarse", "fine"]
    assert [lv["n"] for lv in res.metrics["levels"]] == [24, 8]
    # PP is mapped from p_pulse (Pa) and converted to the canonical mmHg
    val = res.metrics["validation"]["outputs"]
    assert set(val) == {"p_mean", "PP"}
    assert res.metrics["single_fidelity_baseline"] is not None
    cost = res.metrics["solver_cost"]  # wall times read back from the level archives
    assert [(c["fidelity"], c["runs"]) for c in cost] == [("coarse", 24), ("fine", 8)]
    for c in cost:
        assert c["s_per_run"] > 0
        assert c["solver_s"] == pytest.approx(c["runs"] * c["s_per_run"])
        assert c["as_top_s"] == pytest.approx(c["runs"] * cost[-1]["s_per_run"])
    report = res.report.read_text()
    assert "Solver cost per level" in report and "| coarse | 24 |" in report
    assert "Fidelity levels" in report and "| coarse | windkessel3 1.0 | 24 | 0 |" in report
    from emulators import runtime

    emu = runtime.load(res.emulator_file)
    assert {o["name"]: o["unit"] for o in emu.card["outputs"]}["PP"] == "mmHg"
    pp = emu.predict_dict(train_hi)["PP"][0]  # a GP interpolates its training runs
    np.testing.assert_allclose(pp, p_pulse / 133.322387415, rtol=1e-3)
    assert [lv["fidelity"] for lv in emu.card["levels"]] == ["fine"]


def test_level_config_errors_are_named_before_running(tmp_path):
    cfg = _two_level_windkessel(_compose("experiment=quick", "progress=false"))
    cfg["data"]["levels"][0].pop("n_train")
    with pytest.raises(ConfigError, match="level 'coarse' needs 'n_train'"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)
    cfg = _two_level_windkessel(_compose("experiment=quick", "progress=false"))
    cfg["data"]["outputs"] = {"p_mean": {"coarse": "p_average"}}
    with pytest.raises(ConfigError, match=r"level 'coarse' must provide outputs \['p_average'\]"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)
    cfg = _two_level_windkessel(_compose("experiment=quick", "progress=false"))
    cfg["data"]["levels"][1]["simulator"] = "no_such_simulator"
    with pytest.raises(ConfigError, match="no simulator config 'no_such_simulator'"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)
    assert not (tmp_path / "outputs").exists()


def _run_chain(tmp_path, experiment):
    """Run a fidelity-chain experiment; its result, the multi-fidelity and the 1D-only GP's
    metrics per output, and the scalar outputs' names."""
    cfg = _compose(f"experiment={experiment}", "progress=false", "sensitivity.enabled=false",
                   f"archive={tmp_path / 'a.h5'}")
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    mf = res.metrics["validation"]["outputs"]
    sf = res.metrics["single_fidelity_baseline"]["outputs"]
    return res, mf, sf, [k for k in mf if not k.startswith("P_wave")]


@pytest.mark.slow
def test_fidelity_chain_experiment_beats_the_1d_only_gp(tmp_path):
    """README: `twinemu run experiment=mf_oned_cca` — lumped 0D twin + 1D carotid. At the
    same 1D budget the multi-fidelity emulator is more accurate than a GP on the 1D runs."""
    res, mf, sf, scalars = _run_chain(tmp_path, "mf_oned_cca")
    assert np.mean([mf[k]["r2"] for k in scalars]) > np.mean([sf[k]["r2"] for k in scalars])
    assert min(mf[k]["r2"] for k in scalars) > 0.99
    for k in scalars:
        assert 0.80 <= mf[k]["coverage"] <= 1.0, (k, mf[k]["coverage"])
    # the report prices the 0D runs against as many 1D runs
    assert "runs took" in res.report.read_text()
    assert [c["fidelity"] for c in res.metrics["solver_cost"]] == ["0d", "1d"]


@pytest.mark.slow
def test_37_artery_fidelity_chain_saves_1d_solver_time(tmp_path):
    """README: `twinemu run experiment=mf_oned_37artery` (2 min on a quiet 2-core machine) — 120
    lumped-0D runs under 10 1D runs of the 37-artery network. The multi-fidelity emulator is
    at least as accurate as a GP on the same 10 1D runs, and the 0D runs cost a small
    fraction of as many 1D runs."""
    res, mf, sf, scalars = _run_chain(tmp_path, "mf_oned_37artery")
    assert np.mean([mf[k]["r2"] for k in scalars]) >= np.mean([sf[k]["r2"] for k in scalars])
    assert min(mf[k]["r2"] for k in mf) > 0.999
    lo, hi = res.metrics["solver_cost"]
    assert (lo["fidelity"], lo["runs"], hi["runs"]) == ("0d", 120, 10)
    assert lo["as_top_s"] > 10 * lo["solver_s"]  # a 0D run costs < 1/10 of a 1D run
