"""The `twinemu` command end to end (real subprocesses, a small config)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def twinemu(*args, cwd=REPO, timeout=600):
    return subprocess.run([sys.executable, "-m", "emulators.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MPLBACKEND": "Agg"})


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    res = twinemu("run", "experiment=quick", "progress=false", f"archive={tmp / 'a.h5'}",
                  f"hydra.run.dir={tmp / 'run'}")
    return tmp, res


def test_run_writes_report_emulator_and_metrics(quick_run):
    tmp, res = quick_run
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp / "run"
    for name in ("report.md", "metrics.json", "emulator.safetensors", "parity.png",
                 "sobol_intervals.png", "waveforms.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["passed"] is True
    assert metrics["validation"]["outputs"]["p_mean"]["r2"] > 0.99
    assert str(run / "report.md") in res.stdout
    report = (run / "report.md").read_text()
    assert "Held-out accuracy" in report and "![" in report
    assert (run / "report.html").is_file()


def test_info_prints_the_card(quick_run):
    tmp, _ = quick_run
    res = twinemu("info", str(tmp / "run" / "emulator.safetensors"))
    assert res.returncode == 0, res.stderr
    assert "R_p" in res.stdout and "p_wave" in res.stdout and "R²" in res.stdout
    res = twinemu("info", "--json", str(tmp / "run" / "emulator.safetensors"))
    assert json.loads(res.stdout)["kind"] == "gp"


def test_predict_and_out_of_domain(quick_run):
    tmp, _ = quick_run
    f = str(tmp / "run" / "emulator.safetensors")
    res = twinemu("predict", f, "R_p=1.1e8", "C=1.3e-8", "Zc=6e6", "HR=70", "SV=75")
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("p_mean"))
    # mean pressure ≈ (Zc + R_p) Q̄ = 1.16e8 · 75e-6 · 70/60 Pa, shown in mmHg as everywhere
    assert float(line.split()[1]) == pytest.approx(1.16e8 * 75e-6 * 70 / 60 / 133.322387415,
                                                   rel=0.01)
    assert "mmHg (95%)" in line
    res = twinemu("predict", f, "R_p=9e8", "C=1.3e-8", "Zc=6e6", "HR=70", "SV=75")
    assert res.returncode == 1 and "OutOfDomainError: R_p=9e+08 outside" in res.stderr
    res = twinemu("predict", f, "R_p=abc", "C=1.3e-8", "Zc=6e6", "HR=70", "SV=75")
    assert res.returncode != 0 and "expected NAME=NUMBER, got 'R_p=abc'" in res.stderr


def test_check_gate_passes_and_fails(quick_run):
    tmp, _ = quick_run
    f, a = str(tmp / "run" / "emulator.safetensors"), str(tmp / "a.h5")
    ok = twinemu("check", f, "--archive", a, "--r2-min", "0.95",
                 "--coverage-min", "0.5")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # without --runs, the 24 training runs are recognised and left out: 12 held-out runs
    assert "24 training runs of the emulator excluded" in ok.stdout
    assert "passed on 12 runs" in ok.stdout
    bad = twinemu("check", f, "--archive", a, "--runs", "test-", "--nrmse-max", "1e-9")
    assert bad.returncode == 1 and "FAILED" in bad.stdout


def test_help_teaches_and_bad_config_is_a_clear_error(tmp_path):
    res = twinemu("--help")
    assert res.returncode == 0
    for word in ("run", "info", "check", "ingest", "--multirun", "examples"):
        assert word in res.stdout
    res = twinemu("run", "design.n_trian=5", f"hydra.run.dir={tmp_path}")
    assert res.returncode != 0
    assert "n_trian" in res.stdout + res.stderr


@pytest.mark.slow  # two experiments in subprocesses: about 20 s
def test_multirun_sweeps_kernels(tmp_path):
    res = twinemu("run", "--multirun", "experiment=quick", "progress=false",
                  "emulator.kernel=matern52,rbf", "sensitivity.enabled=false",
                  f"archive={tmp_path / 'a.h5'}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert res.returncode == 0, res.stdout + res.stderr
    kernels = []
    for job in ("0", "1"):
        card = json.loads(twinemu("info", "--json",
                                  str(tmp_path / "sweep" / job / "emulator.safetensors")).stdout)
        kernels.append(card["model"]["kernel"])
    assert kernels == ["matern52", "rbf"]
    # the second job reused the first job's simulations
    assert "24 already in the archive" in res.stdout
    # a summary across the jobs, whose scores are each job's mean held-out R²
    import csv

    with open(tmp_path / "sweep" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row in rows:
        m = json.loads((tmp_path / "sweep" / row["job"] / "metrics.json").read_text())
        r2 = [o["r2"] for o in m["validation"]["outputs"].values()]
        assert float(row["score"]) == pytest.approx(sum(r2) / len(r2), rel=1e-9)
        assert "emulator.kernel=" in row["overrides"]
        # the comparison a modeller picks with: fit time and one runtime query
        assert row["emulator"] == "GaussianProcess"
        assert float(row["fit_s"]) > 0 and 1 < float(row["query_us"]) < 1e5
    assert "sweep summary" in res.stdout


def test_ingest_command_on_the_real_vampy_run(shared_data, tmp_path):
    res = twinemu("ingest", "conf/data/vampy_artery.yaml", "--archive", str(tmp_path / "v.h5"),
                  "--no-progress", "--workers", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 ok, 0 failed" in res.stdout
    res = twinemu("ingest", "conf/data/vampy_artery.yaml", "--archive", str(tmp_path / "v.h5"),
                  "--no-progress")
    assert "0 ok, 0 failed, 1 skipped" in res.stdout
    res = twinemu("ingest", "missing.yaml", "--archive", str(tmp_path / "w.h5"))
    assert res.returncode == 1 and "ManifestError" in res.stderr
