"""The 1D solver's command line (``twinemu oned run`` / ``python -m simulators.oned run``):
openBF input files run to the periodic state, the last cycle written in openBF's ``.last``
layout, summary quantities equal to the in-process solver's, exit status 0 / 1 / 2 with a
one-line message."""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from simulators.oned import load_network, simulate
from simulators.oned.cli import LAST_COLUMNS, main
from simulators.oned.record import flow_summary, pressure_summary
from simulators.units import ML

REPO = Path(__file__).resolve().parents[3]
CONF = REPO / "conf" / "simulator"
NOMINAL = {"E": "700.0e3", "R2": "1.8697e9", "C": "1.7529e-10"}   # Boileau case 2 (openBF)


def openbf_cca(folder: Path, **values: str) -> Path:
    """The carotid of ``conf/simulator/openbf_command.yaml`` rendered as an openBF file."""
    template = yaml.safe_load((CONF / "openbf_command.yaml").read_text())["input"]["template"]
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONF / "networks" / "boileau_cca_inlet.dat", folder)
    path = folder / "cca.yaml"
    path.write_text(string.Template(template).substitute({**NOMINAL, **values}))
    return path


def test_openbf_file_gives_openbf_last_files_and_in_process_quantities(tmp_path, capsys):
    path = openbf_cca(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--site", "probe=common_carotid_artery:0.3"]
                ) == 0
    assert "periodic after" in capsys.readouterr().out
    # write_results: [P, Q] in the file -> exactly those .last files, plus the QoI tables
    assert sorted(p.name for p in out.iterdir()) == [
        "common_carotid_artery_P.last", "common_carotid_artery_Q.last", "qoi.csv", "qoi.json"]
    doc = json.loads((out / "qoi.json").read_text())
    # the same network, sites and options in process (openBF's jump: 400 samples per cycle)
    net = load_network(path)
    sites = [("common_carotid_artery", x) for x in (*LAST_COLUMNS, 0.3)]
    sol = simulate(net, sites=sites, cfl=0.9, max_cycles=30, min_cycles=2, tol=1e-3,
                   record_points=400)
    assert doc["cycles"] == sol.cycles and doc["converged"]
    last_p = np.loadtxt(out / "common_carotid_artery_P.last")
    last_q = np.loadtxt(out / "common_carotid_artery_Q.last")
    assert last_p.shape == last_q.shape == (400, 6)
    # openBF counts time from the start of the run: the last cycle starts at (cycles-1)·T
    np.testing.assert_allclose(last_p[:, 0], (sol.cycles - 1) * 1.1 + np.arange(400) * 1.1 / 400,
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(last_p[:, 1:], sol.P[:5].T)     # %.17g: exact round trip
    np.testing.assert_array_equal(last_q[:, 1:], sol.Q[:5].T)
    inlet = doc["vessels"]["common_carotid_artery"]["inlet"]
    assert inlet == {**pressure_summary(sol.P[0]), **flow_summary(sol.Q[0] / ML)}
    probe = doc["sites"]["probe"]
    assert probe["P_mean"] == pressure_summary(sol.P[5])["P_mean"] and probe["x"] == 0.3
    # known answers: the outlet passes the mean inflow (mL/s) and, at the periodic state,
    # mean outlet pressure = (R1 + R2)·Q̄ (P_out = 0; the compliance's mean flow is zero)
    outlet = doc["vessels"]["common_carotid_artery"]["outlet"]
    q_in = net.inlet.mean() / ML
    assert outlet["Q_mean"] == pytest.approx(q_in, rel=2e-3)
    assert outlet["P_mean"] == pytest.approx((2.4875e8 + 1.8697e9) * outlet["Q_mean"] * ML,
                                             rel=2e-3)
    rows = (out / "qoi.csv").read_text().splitlines()
    assert rows[0] == "site,vessel,x,P_sys,P_dia,P_mean,PP,Q_mean,Q_max" and len(rows) == 5


def test_twinemu_network_file_and_default_output_folder(tmp_path, monkeypatch):
    """Our own YAML runs too; without --out the folder is <name>_results (openBF's habit)."""
    monkeypatch.chdir(tmp_path)
    net = CONF / "networks" / "boileau_cca.yaml"
    assert main(["run", str(net), "--write", "P,A,u", "--points", "50", "--quiet"]) == 0
    out = tmp_path / "boileau_cca_results"
    for q in "PAu":
        assert np.loadtxt(out / f"common_carotid_artery_{q}.last").shape == (50, 6)
    a = np.loadtxt(out / "common_carotid_artery_A.last")[:, 1:]
    u = np.loadtxt(out / "common_carotid_artery_u.last")[:, 1:]
    q = json.loads((out / "qoi.json").read_text())["vessels"]["common_carotid_artery"]
    # u = Q/A: its area-weighted mean recovers the mean flow at the outlet (mL/s)
    assert np.mean(a[:, 4] * u[:, 4]) / ML == pytest.approx(q["outlet"]["Q_mean"], rel=1e-9)


@pytest.mark.parametrize("case, args, code, words", [
    ("missing", ["run", "{tmp}/nowhere.yaml"], 2, "not found"),
    ("invalid yaml", ["run", "{tmp}/bad.yaml"], 2, "not valid YAML"),
    ("R1 without R2 (strict)", ["run", "{tmp}/in/cca.yaml"], 2, "R1 but no R2"),
    ("bad site", ["run", "{tmp}/ok/cca.yaml", "--site", "a=aorta:0.5"], 2, "aorta"),
    ("no periodic state", ["run", "{tmp}/ok/cca.yaml", "--max-cycles", "1", "--min-cycles",
                           "1"], 1, "no periodic state after 1 cycles"),
    ("unstable", ["run", "{tmp}/soft/cca.yaml"], 1, "area outside the physical range"),
])
def test_exit_status_and_one_line_message(case, args, code, words, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("project_name: [cca\n")
    path = openbf_cca(tmp_path / "in")
    path.write_text(path.read_text().replace(", R2: 1.8697e9", ""))
    openbf_cca(tmp_path / "ok")
    openbf_cca(tmp_path / "soft", E="1.0e3")          # a wall 700 times too soft
    argv = [a.format(tmp=tmp_path) for a in args] + ["--out", str(tmp_path / "out")]
    assert main(argv) == code, case
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "qoi.json").exists()


def test_no_strict_reads_the_openbf_quirk_with_a_warning(tmp_path, capsys):
    path = openbf_cca(tmp_path / "in")
    path.write_text(path.read_text().replace(", R2: 1.8697e9", ""))
    assert main(["run", str(path), "--no-strict", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "pure resistance" in err
    # a pure resistance R1 = 2.4875e8: mean pressure at the outlet = R1·Q̄
    q = json.loads((tmp_path / "o" / "qoi.json").read_text())["vessels"]
    out = q["common_carotid_artery"]["outlet"]
    assert out["P_mean"] == pytest.approx(2.4875e8 * out["Q_mean"] * ML, rel=2e-3)


def test_twinemu_oned_subcommand_in_a_process(tmp_path):
    """`twinemu oned` is the same command: --help teaches, bad input exits 2 with one line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    help_ = subprocess.run([sys.executable, "-m", "emulators.cli", "oned", "run", "--help"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert help_.returncode == 0
    for words in ("usage: twinemu oned run", "_P.last", "mL/s", "--no-strict", "exit status"):
        assert words in help_.stdout, words
    bad = subprocess.run([sys.executable, "-m", "emulators.cli", "oned", "run", "no.yaml"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "twinemu oned run: error: network file no.yaml not found\n"


def net_mean_ml(path: Path) -> float:
    return load_network(path).inlet.mean() / ML


def test_each_vessel_of_a_bifurcation_gets_its_own_files_and_quantities(tmp_path):
    """Boileau case 4 (aortic bifurcation): the files and QoIs land on the right vessel —
    the mean flow leaving the parent is the sum entering the daughters, and each daughter's
    .last column at x = 1/2 is the in-process solver's pressure there."""
    path = CONF / "networks" / "boileau_ibif.yaml"
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "qoi.json").read_text())["vessels"]
    assert sorted(doc) == ["d1", "d2", "parent"]
    split = doc["d1"]["inlet"]["Q_mean"] + doc["d2"]["inlet"]["Q_mean"]
    assert doc["parent"]["outlet"]["Q_mean"] == pytest.approx(split, rel=1e-3)
    assert doc["parent"]["inlet"]["Q_mean"] == pytest.approx(net_mean_ml(path), rel=1e-3)
    net = load_network(path)
    sol = simulate(net, sites=[(v.label, x) for v in net.vessels for x in LAST_COLUMNS],
                   record_points=100)
    for label in ("d1", "d2"):
        last = np.loadtxt(out / f"{label}_P.last")
        np.testing.assert_array_equal(last[:, 3], sol.pressure(label, 0.5))
