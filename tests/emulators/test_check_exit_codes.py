"""`twinemu check`: 0 when every bar is met, 1 when one is missed, 2 for bad input
(missing file, foreign archive, unit mismatch, malformed thresholds); JUnit output;
domain and training-run handling."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from datasets import Archive
from emulators import runtime
from emulators.cli import main
from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace
from tests.emulators.contract import SPACE, fitted_and_validated, smooth_function, waveform

T = 40
OUTPUTS = [OutputSpec("p", "Pa"), OutputSpec("w", "m^3/s", (T,))]


def truth(X):
    return {"p": 1e4 * (2 + smooth_function(X)), "w": 1e-5 * (2 + waveform(X, T))}


def write_archive(path, X, prefix, *, space=SPACE, outputs=OUTPUTS, scale=None):
    Y = truth(X)
    with Archive.open_or_create(path, space, outputs) as a:
        for i, x in enumerate(X):
            out = {o.name: Y[o.name][i] * (scale or {}).get(o.name, 1.0) for o in outputs}
            a.append(x, out, run_id=f"{prefix}{i:05d}", fidelity="0d")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("check")
    gp, res, X_train, X_test = fitted_and_validated(truth, {"p": "Pa", "w": "m^3/s"}, 25, 15)
    emu = gp.export(tmp / "emu.safetensors", validation=res.to_dict())
    good = write_archive(tmp / "good.h5", X_train, "train-")
    write_archive(good, X_test, "test-")
    return tmp, emu, good, X_test


def check(capsys, *args):
    code = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_pass_with_the_card_metrics_as_bars_excludes_training_runs(setup, capsys):
    tmp, emu, good, _ = setup
    code, out, _ = check(capsys, emu, "--archive", good, "--junit", tmp / "pass.xml")
    assert code == 0, out
    assert "thresholds: card (tolerance 0.25" in out
    assert "25 training runs of the emulator excluded" in out
    assert "passed on 15 runs" in out
    suite = ET.parse(tmp / "pass.xml").getroot()
    assert suite.get("failures") == "0"
    # domain + training rows, then p: nrmse, R², coverage; w: nrmse, coverage
    assert int(suite.get("tests")) == 2 + 3 + 2


def test_missed_bar_exits_1_and_junit_names_it(setup, capsys):
    tmp, emu, good, _ = setup
    code, out, _ = check(capsys, emu, "--archive", good, "--nrmse-max", "1e-9",
                         "--junit", tmp / "fail.xml")
    assert code == 1
    assert "FAILED" in out and "nrmse" in out
    suite = ET.parse(tmp / "fail.xml").getroot()
    assert suite.get("failures") == "2"  # p and w
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert {c.get("classname") for c in failures} == {"twinemu check.p",
                                                     "twinemu check.w"}


def test_thresholds_file_per_output(setup, capsys, tmp_path):
    _, emu, good, _ = setup
    f = tmp_path / "bars.yaml"
    f.write_text("default: {r2_min: 0.9}\noutputs:\n  w: {nrmse_max: 1.0e-9}\n")
    code, out, _ = check(capsys, emu, "--archive", good, "--thresholds", f)
    assert code == 1 and "w: nrmse" in out and "p: nrmse" not in out
    f.write_text(json.dumps({"default": {"r2_min": 0.9, "coverage_min": 0.5}}))
    g = tmp_path / "bars.json"
    g.write_text(f.read_text())
    assert check(capsys, emu, "--archive", good, "--thresholds", g)[0] == 0


@pytest.mark.parametrize("case", ["missing emulator", "missing archive", "not an archive",
                                  "foreign archive", "unit mismatch", "missing thresholds",
                                  "malformed thresholds", "unknown bar", "no runs"])
def test_bad_input_exits_2(setup, capsys, tmp_path, case):
    _, emu, good, X_test = setup
    args = [emu, "--archive", good]
    if case == "missing emulator":
        args[0] = tmp_path / "nope.safetensors"
    elif case == "missing archive":
        args[2] = tmp_path / "nope.h5"
    elif case == "not an archive":
        args[2] = tmp_path / "text.h5"
        args[2].write_text("hello")
    elif case == "foreign archive":
        other = ParameterSpace([Parameter("x", 0.0, 1.0), Parameter("b", 1.0, 10.0)])
        args[2] = write_archive(tmp_path / "f.h5", X_test, "test-", space=other)
    elif case == "unit mismatch":  # p recorded as a flow
        args[2] = write_archive(tmp_path / "u.h5", X_test, "test-",
                                outputs=[OutputSpec("p", "mL/s"), OUTPUTS[1]])
    elif case == "missing thresholds":
        args += ["--thresholds", tmp_path / "none.yaml"]
    elif case == "malformed thresholds":
        (tmp_path / "bad.yaml").write_text("default: [1, 2\n")
        args += ["--thresholds", tmp_path / "bad.yaml"]
    elif case == "unknown bar":
        (tmp_path / "bad.yaml").write_text("default: {r2_minimum: 0.9}\n")
        args += ["--thresholds", tmp_path / "bad.yaml"]
    elif case == "no runs":
        args += ["--runs", "nothing-"]
    code, out, err = check(capsys, *args)
    assert code == 2, out + err
    assert "twinemu check:" in err
    assert "Traceback" not in err


def test_other_unit_of_the_same_quantity_is_converted(setup, capsys, tmp_path):
    _, emu, _, X_test = setup
    a = write_archive(tmp_path / "k.h5", X_test, "test-",
                      outputs=[OutputSpec("p", "kPa"), OUTPUTS[1]], scale={"p": 1e-3})
    code, out, _ = check(capsys, emu, "--archive", a)
    assert code == 0, out
    assert "p converted to the emulator's unit 'Pa'" in out


def test_runs_outside_the_domain_fail_unless_skipped(setup, capsys, tmp_path):
    _, emu, _, X_test = setup
    wide = ParameterSpace([Parameter("a", 0.0, 2.0, unit="m"),
                           Parameter("b", 1.0, 10.0, unit="Pa", dist="loguniform")])
    X = np.vstack([X_test, [[1.5, 2.0], [1.8, 3.0]]])
    a = write_archive(tmp_path / "w.h5", X, "test-", space=wide)
    code, out, err = check(capsys, emu, "--archive", a)
    assert code == 1
    assert "2 of 17 runs lie outside the emulator's domain" in err
    assert "15 of 17" in out
    assert check(capsys, emu, "--archive", a, "--skip-outside")[0] == 0


@runtime.register
class _NoTrainingInputs:
    """A user-registered predictor kind that keeps no training inputs (like an ensemble):
    a linear map with constant variance."""

    kind = "test-linear"
    default_prefix = "lin."

    def __init__(self, card, arrays, prefix="lin."):
        self.w = arrays[prefix + "w"]
        self.n_inputs, self.n_latent = self.w.shape[0] - 1, self.w.shape[1]

    def __call__(self, U):
        mean = U @ self.w[:-1] + self.w[-1]
        return mean, np.full_like(mean, 0.05)

    def train_inputs(self):
        return None

    def bytes_per_point(self):
        return 64


def test_emulator_without_training_inputs_says_it_cannot_exclude_them(setup, capsys, tmp_path):
    _, _, good, _ = setup
    card = {"kind": "test-linear", "inputs": SPACE.to_dict()["parameters"],
            "outputs": [{"name": "p", "unit": "Pa", "shape": [], "transform": "identity",
                         "latent": 1}], "squeeze_output": False}
    arrays = {"lin.w": np.array([[1.0], [0.5], [0.0]]), "outputs.y_mean": np.array([2e4]),
              "outputs.y_std": np.array([1e4])}
    f = tmp_path / "lin.safetensors"
    runtime.write_file(f, arrays, card)
    code, out, err = check(capsys, f, "--archive", good, "--r2-min", "-100")
    assert code == 0, out + err
    assert "training runs cannot be excluded" in err
    assert "training runs excluded  unknown" in out
    # every one of the 40 runs, training runs included, was checked — and it says so
    assert "passed on 40 runs" in out


def test_pytest_helper_asserts_and_shows_the_table(setup):
    from emulators.errors import CheckFailed
    from emulators.testing import assert_emulator_meets

    _, emu, good, _ = setup
    report = assert_emulator_meets(emu, good)
    assert report.passed and len(report.data.X) == 15
    with pytest.raises(CheckFailed, match=r"p nrmse .* \(bar <= 1e-09\)") as exc:
        assert_emulator_meets(emu, good, thresholds={"default": {"nrmse_max": 1e-9}})
    assert "inside the domain" in str(exc.value)  # the whole table is in the message


def test_pytest_plugin_fixture_in_a_users_suite(setup, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    _, emu, good, _ = setup
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["emulators.testing"]\n')
    (tmp_path / "test_user.py").write_text(
        f"def test_meets(twinemu_check):\n"
        f"    twinemu_check({str(emu)!r}, {str(good)!r}, runs='test-')\n\n"
        f"def test_misses(twinemu_check):\n"
        f"    twinemu_check({str(emu)!r}, {str(good)!r},\n"
        f"                  thresholds={{'outputs': {{'w': {{'nrmse_max': 1e-9}}}}}})\n")
    repo = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(repo)})
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 failed, 1 passed" in res.stdout
    assert "CheckFailed: emulator misses its bar: w nrmse" in res.stdout
