"""The indices say when they cannot be trusted: a failing or uncertain emulator is flagged
in the console table, the JSON and the report; a good one is not."""

import json

import numpy as np
import pytest

from emulators import GaussianProcess
from emulators.sensitivity import SensitivityConfig, analyse
from emulators.validation import check_metrics, validate
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import IshigamiSimulator, ishigami

SPACE = IshigamiSimulator().space


@pytest.fixture(scope="module")
def poor_ishigami():
    """An Ishigami emulator from 16 runs: it fails an R² ≥ 0.9 check, as `twinemu run
    simulator=ishigami` with a small design does."""
    X = SPACE.sample(16, seed=0)
    gp = GaussianProcess(restarts=1).fit(X, {"y": ishigami(X)}, space=SPACE)
    Xt = SPACE.sample(200, method="random", seed=1)
    res = validate(gp, Xt, {"y": ishigami(Xt)})
    why = "; ".join(f"{k}: {w}" for k, ws in check_metrics(res, r2_min=0.9).items()
                    for w in ws)
    return gp, res.metrics["y"].r2, why


def test_a_failing_emulator_triggers_the_warning(poor_ishigami, tmp_path):
    gp, r2, why = poor_ishigami
    assert r2 < 0.9 and "R²" in why
    rep = analyse(gp, seed=0, n=2048, n_boot=100, posterior_draws=32,
                  validation_passed=False, why_failed=why)
    assert not rep.reliable
    assert any("FAILED its validation checks" in w and why in w for w in rep.warnings)
    assert rep.table().startswith("SENSITIVITY INDICES NOT RELIABLE")
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["reliable"] is False and d["warnings"] == rep.warnings
    title, body, _ = rep.sections(tmp_path)[0]
    assert "NOT RELIABLE" in body and why in body


def test_an_uncertain_emulator_is_flagged_without_validation(poor_ishigami):
    # no validation verdict: the width of the emulator-uncertainty intervals alone says so
    gp, _, _ = poor_ishigami
    rep = analyse(gp, seed=1, n=2048, n_boot=100, posterior_draws=64, max_interval_width=0.1)
    assert not rep.reliable
    assert any("too uncertain" in w for w in rep.warnings)
    assert any("validation status is unknown" in w for w in rep.warnings)
    emu = rep.emulator_intervals()
    width = emu["S1"][1] - emu["S1"][0]
    assert np.max(width) > 0.1


def test_a_good_emulator_is_reliable_and_its_intervals_contain_the_truth():
    space = ParameterSpace([Parameter("a", -1, 1), Parameter("b", -1, 1), Parameter("c", -1, 1)])
    X = space.sample(40, seed=0)
    gp = GaussianProcess(restarts=1).fit(X, X[:, 0] + 0.5 * X[:, 1] ** 2, space=space)
    rep = analyse(gp, seed=2, n=4096, n_boot=100, posterior_draws=32, validation_passed=True)
    assert rep.reliable and rep.warnings == []
    assert rep.table().startswith("Sensitivity indices: reliable.")
    # V(a) = 1/3, V(b) = 0.25 · Var(b²) = 0.25 · 4/45; c is inert
    va, vb = 1 / 3, 0.25 * 4 / 45
    truth = np.array([va, vb, 0]) / (va + vb)
    np.testing.assert_allclose(rep.mean.S1[0], truth, atol=0.02)
    assert rep.mean.ST[0, 2] <= 0.005


def test_too_small_a_monte_carlo_sample_is_flagged():
    space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
    X = space.sample(20, seed=0)
    gp = GaussianProcess(restarts=1).fit(X, X[:, 0] + X[:, 1] ** 2 + X[:, 0] * X[:, 1],
                                         space=space)
    rep = analyse(gp, seed=3, n=32, n_boot=100, posterior_draws=0, validation_passed=True,
                  morris=False)
    assert not rep.reliable
    assert any("Increase n" in w for w in rep.warnings)


def test_records_are_a_flat_table_and_sections_carry_plots(tmp_path):
    space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
    X = space.sample(24, seed=0)
    phase = np.arange(16) / 16
    Y = {"s": X[:, 0] + 0.3 * X[:, 1],
         "w": np.outer(X[:, 0], np.sin(2 * np.pi * phase)) + np.outer(X[:, 1], phase)}
    gp = GaussianProcess(kernel="rbf", restarts=1, pca=0.9999).fit(X, Y, space=space)
    rep = analyse(gp, seed=4, n=1024, n_boot=50, posterior_draws=16, second_order=True,
                  validation_passed=True)
    assert rep.outputs == ["s", "w"] and rep.kinds == ["scalar", "waveform"]
    recs = rep.records()
    keys = {"output", "kind", "phase", "input", "index", "estimate", "mc_low", "mc_high",
            "emu_low", "emu_high", "posterior_mean", "analytic"}
    assert all(set(r) == keys for r in recs)
    assert {r["kind"] for r in recs} == {"scalar", "waveform", "phase", "morris"}
    s1a = next(r for r in recs if r["output"] == "s" and r["input"] == "a"
               and r["index"] == "S1")
    assert s1a["mc_low"] <= s1a["estimate"] <= s1a["mc_high"]
    assert s1a["emu_low"] <= s1a["estimate"] <= s1a["emu_high"]
    assert abs(s1a["analytic"] - s1a["estimate"]) < 0.02
    assert any(r["index"] == "S2:b" for r in recs)
    json.dumps(rep.to_dict(), allow_nan=False)
    secs = rep.sections(tmp_path)
    titles = [t for t, _, _ in secs]
    assert "Morris screening" in titles and "Second-order Sobol' indices" in titles
    assert "Waveform sensitivity: w" in titles
    pngs = [p for _, _, imgs in secs for _, p in imgs]
    assert len(pngs) >= 4 and all(p.is_file() and p.stat().st_size > 1000 for p in pngs)


def test_config_options_are_the_keywords_of_analyse():
    import inspect

    params = inspect.signature(analyse).parameters
    cfg = SensitivityConfig()
    assert set(cfg.options()) <= set(params)
    assert all(params[k].default == v for k, v in cfg.options().items())
    with pytest.raises(ValueError, match="max_interval_width"):
        analyse(None, SPACE, max_interval_width=0)
