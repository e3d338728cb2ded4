"""Deep ensembles: accuracy, calibrated intervals, the numpy runtime equal to torch,
reproducible seeds, and a killed fit that resumes from its checkpoint."""

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from emulators import NeuralEnsemble, runtime
from simulators.design import Parameter, ParameterSpace
from tests.emulators.contract import SPACE, run_twin_side, smooth_function, training_data

SMALL = dict(members=3, hidden=(32, 32), epochs=250, patience=60, batch_size=64, seed=3)


@pytest.fixture(scope="module")
def fitted():
    X, Y = training_data(300)
    return NeuralEnsemble(**SMALL).fit(X, Y["y"], space=SPACE)


def test_accuracy_and_calibrated_coverage_on_a_smooth_function(fitted):
    Xt = SPACE.sample(400, method="random", seed=11)
    mean, var = fitted.predict(Xt)
    y = smooth_function(Xt)
    assert 1 - np.mean((mean - y) ** 2) / np.var(y) > 0.99
    cover = np.mean(np.abs(mean - y) <= 1.959964 * np.sqrt(var))
    assert 0.85 <= cover <= 1.0, cover
    assert fitted.calibration["n"] == 30 and len(fitted.calibration["scale"]) == 1


def test_numpy_runtime_equals_torch_and_keeps_no_training_inputs(fitted, tmp_path):
    U = SPACE.to_unit(SPACE.sample(50, method="random", seed=2))
    m_np, v_np = fitted._predict(U)
    m_t, v_t = fitted.torch_predict(U)
    np.testing.assert_allclose(m_np, m_t, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(v_np, v_t, rtol=1e-6)
    emu = runtime.load(fitted.export(tmp_path / "nn.safetensors"))
    X = SPACE.from_unit(U)
    np.testing.assert_allclose(emu.predict(X)[0], fitted.predict(X)[0], rtol=1e-12)
    assert emu.training_mask(X) is None
    assert emu.card["kind"] == "ensemble"
    assert emu.card["model"]["calibration"]["scale"] == fitted.calibration["scale"]


def test_exported_ensemble_loads_with_torch_blocked(fitted, tmp_path):
    path = fitted.export(tmp_path / "nn.safetensors")
    res = run_twin_side(f"""
        from emulators import runtime
        mean, var = runtime.load({str(path)!r}).predict([[0.5, 3.0]])
        print(float(mean[0]), float(var[0]) > 0)
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[1] == "True"


def test_same_seed_same_weights_other_seed_other_weights():
    X, Y = training_data(60)
    opts = dict(SMALL, epochs=30)
    a = NeuralEnsemble(**opts).fit(X, Y["y"], space=SPACE)
    b = NeuralEnsemble(**opts).fit(X, Y["y"], space=SPACE)
    c = NeuralEnsemble(**dict(opts, seed=4)).fit(X, Y["y"], space=SPACE)
    for k, v in a._arrays.items():
        np.testing.assert_array_equal(v, b._arrays[k])
    assert not np.array_equal(a._arrays["nn.W0"], c._arrays["nn.W0"])


def test_a_killed_fit_resumes_from_its_checkpoint(tmp_path):
    ckpt = tmp_path / "fit.ckpt.safetensors"
    opts = dict(SMALL, epochs=160, patience=160, checkpoint_every=20)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path.parents[0])!r})
        from emulators import NeuralEnsemble
        from tests.emulators.contract import SPACE, training_data
        X, Y = training_data(120)
        NeuralEnsemble(**{opts!r}, checkpoint={str(ckpt)!r}).fit(X, Y["y"], space=SPACE)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=str(_repo()))
    deadline = time.monotonic() + 300
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "the child never wrote a checkpoint"
    X, Y = training_data(120)
    resumed = NeuralEnsemble(**opts, checkpoint=ckpt).fit(X, Y["y"], space=SPACE)
    assert resumed.report.resumed_from >= 20
    fresh = NeuralEnsemble(**opts).fit(X, Y["y"], space=SPACE)
    for k, v in fresh._arrays.items():
        np.testing.assert_allclose(resumed._arrays[k], v, rtol=1e-9, atol=1e-12)


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_bad_settings_are_refused_at_construction():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        NeuralEnsemble(device="tpu")
    with pytest.raises(ValueError, match="val_fraction"):
        NeuralEnsemble(val_fraction=0.7)


def borehole(X):
    """Water flow through a borehole, m³/yr (Harper & Gupta 1983; Surjanovic & Bingham)."""
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    lr = np.log(r / rw)
    return 2 * np.pi * Tu * (Hu - Hl) / (lr * (1 + 2 * L * Tu / (lr * rw**2 * Kw) + Tu / Tl))


BOREHOLE = ParameterSpace([
    Parameter("rw", 0.05, 0.15), Parameter("r", 100, 50000), Parameter("Tu", 63070, 115600),
    Parameter("Hu", 990, 1110), Parameter("Tl", 63.1, 116), Parameter("Hl", 700, 820),
    Parameter("L", 1120, 1680), Parameter("Kw", 9855, 12045)])


@pytest.mark.slow
def test_borehole_5000_runs_accurate_and_calibrated():
    """Issue: borehole (8 inputs), n = 5000: held-out R² ≥ 0.998, 95% coverage in
    [0.90, 0.98]."""
    X = BOREHOLE.sample(5000, method="lhs", seed=1)
    Xt = BOREHOLE.sample(2000, method="random", seed=2)
    nn = NeuralEnsemble(members=5, hidden=(64, 64), epochs=600, patience=80,
                        batch_size=512, seed=0).fit(X, borehole(X), space=BOREHOLE)
    mean, var = nn.predict(Xt)
    y = borehole(Xt)
    r2 = 1 - np.mean((mean - y) ** 2) / np.var(y)
    cover = np.mean(np.abs(mean - y) <= 1.959964 * np.sqrt(var))
    assert r2 >= 0.998, r2
    assert 0.90 <= cover <= 0.98, cover


@pytest.mark.slow
def test_windkessel_waveforms_from_2000_runs():
    """Issue: ≥ 2000 Windkessel runs: relative L2 error of the reconstructed pressure
    waveforms ≤ 2%, 95% coverage in [0.90, 0.98]."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from emulators.pipeline.targets import instantiate

    with initialize_config_dir(config_dir=str(_repo() / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config"), resolve=True)
    sim = instantiate(cfg["simulator"], "simulator")
    X = sim.space.sample(2400, method="lhs", seed=5)
    W = np.stack([sim(p)["p_wave"] for p in sim.space.points(X)])
    train, test = slice(0, 2000), slice(2000, None)
    nn = NeuralEnsemble(members=5, hidden=(64, 64), epochs=400, patience=60, pca=0.99999,
                        seed=0).fit(X[train], {"p_wave": W[train]}, space=sim.space)
    mean, var = nn.predict_dict(X[test])["p_wave"]
    rel = np.linalg.norm(mean - W[test], axis=1) / np.linalg.norm(W[test], axis=1)
    cover = np.mean(np.abs(mean - W[test]) <= 1.959964 * np.sqrt(var))
    assert rel.mean() <= 0.02, rel.mean()
    assert 0.90 <= cover <= 0.98, cover


@pytest.mark.slow
def test_the_readme_ensemble_experiment(tmp_path):
    """README: `twinemu run emulator=ensemble design.n_train=400 design.n_test=100`."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from emulators.pipeline import run_experiment

    with initialize_config_dir(config_dir=str(_repo() / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[
            "emulator=ensemble", "design.n_train=400", "design.n_test=100", "progress=false",
            f"archive={tmp_path / 'a.h5'}", "sensitivity.n=1024"]), resolve=True)
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    val = res.metrics["validation"]["outputs"]
    assert min(v["r2"] for v in val.values()) > 0.99
    card = runtime.load(res.emulator_file).card
    assert card["kind"] == "ensemble" and card["model"]["calibration"]["n"] == 40


@pytest.mark.slow
def test_multirun_compares_gp_and_ensemble(tmp_path):
    """README: `twinemu run --multirun emulator=gp,ensemble sensitivity.enabled=false` ends
    with a summary comparing the two emulators."""
    import csv

    res = subprocess.run(
        [sys.executable, "-m", "emulators.cli", "run", "--multirun", "emulator=gp,ensemble",
         "sensitivity.enabled=false", "progress=false",
         f"archive={tmp_path / 'a.h5'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=_repo(), capture_output=True, text=True)
    with open(tmp_path / "sweep" / "summary.csv") as f:
        rows = {r["emulator"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"GaussianProcess", "NeuralEnsemble"}, res.stdout + res.stderr
    # the score is the mean held-out R² on 48 training runs: the GP's is 0.9999+; an
    # ensemble this small measured 0.9936 and 0.9899 on the same runs with two versions of
    # the code that leave the ensemble unchanged (cause not isolated): why the README
    # advises a GP below ~2,000 runs
    bars = {"GaussianProcess": 0.999, "NeuralEnsemble": 0.98}
    for name, r in rows.items():
        assert float(r["fit_s"]) > 0 and float(r["query_us"]) > 0
        assert float(r["score"]) > bars[name], (name, r["score"])
