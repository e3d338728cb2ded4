"""`twinemu sensitivity` on exported emulator files (real subprocesses)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators import GaussianProcess
from emulators.validation import validate
from simulators.testfunctions import IshigamiSimulator, ishigami

REPO = Path(__file__).resolve().parents[2]
SPACE = IshigamiSimulator().space


def twinemu(*args):
    return subprocess.run([sys.executable, "-m", "emulators.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def _export(tmp_path, n_train, name):
    X = SPACE.sample(n_train, seed=0)
    gp = GaussianProcess(restarts=1).fit(X, {"y": ishigami(X)}, space=SPACE)
    Xt = SPACE.sample(100, method="random", seed=1)
    res = validate(gp, Xt, {"y": ishigami(Xt)})
    return gp.export(tmp_path / name, validation=res.to_dict()), res.metrics["y"].r2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sens")
    return tmp, _export(tmp, 16, "poor.safetensors"), _export(tmp, 140, "good.safetensors")


def test_a_poor_emulator_file_is_reported_unreliable(files):
    tmp, (poor, r2), _ = files
    assert r2 < 0.9
    res = twinemu("sensitivity", str(poor), "--n", "1024", "--draws", "16", "--strict")
    assert res.returncode == 1, res.stderr
    assert res.stdout.startswith("SENSITIVITY INDICES NOT RELIABLE")
    assert f"held-out R² {r2:.4f} < 0.99" in res.stdout
    assert "x2" in res.stdout and "[emulator 95%]" in res.stdout


def test_a_good_emulator_file_writes_report_json_and_plots(files):
    tmp, _, (good, r2) = files
    out = tmp / "out"
    res = twinemu("sensitivity", str(good), "--n", "2048", "--draws", "16", "--out", str(out),
                  "--r2-min", "0.9")
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["validation_passed"] is True and data["outputs"] == ["y"]
    # Ishigami x3 acts only through x1: first order ≈ 0, total ≈ 0.24
    S1, ST = data["mean"]["S1"][0], data["mean"]["ST"][0]
    assert abs(S1[2]) < 0.05 and 0.15 < ST[2] < 0.35
    for png in ("sobol_intervals.png", "morris.png"):
        assert (out / png).is_file()
    assert "Morris screening" in (out / "sensitivity.md").read_text()


def test_unknown_output_is_a_usage_error(files):
    _, (poor, _), _ = files
    res = twinemu("sensitivity", str(poor), "--outputs", "nope", "--draws", "0")
    assert res.returncode == 2 and "nope" in res.stderr
