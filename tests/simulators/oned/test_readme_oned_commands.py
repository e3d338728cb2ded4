"""README 'openBF input files through our 1D solver': every command of its bash block runs
(the `twinemu oned run` lines here, the experiment under the slow mark), and its YAML excerpt
is the shipped config's own lines."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simulators.oned import load_network, simulate
from tests.conftest import shared_data_dir

REPO = Path(__file__).resolve().parents[3]
SECTION = "### openBF input files through our 1D solver"


def _blocks(lang: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    section = text[start:text.index("\n### ", start + len(SECTION))]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def _commands() -> list[str]:
    (block,) = _blocks("bash")
    return [ln.strip() for ln in block.splitlines() if ln.strip()]


def _run(line: str, cwd: Path, extra: list[str] = ()) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    assert argv[0] == "twinemu"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "emulators.cli", *argv[1:], *extra], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def _checkout(tmp_path: Path) -> Path:
    """A folder laid out like the checkout (its conf/ and ../shared beside it), so the
    README's relative paths resolve and nothing is written into the real checkout."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "conf").symlink_to(REPO / "conf")
    shared = shared_data_dir()
    if shared is not None:
        (tmp_path / "shared").symlink_to(shared.parent)
    return work


def test_the_readme_block_holds_the_three_commands():
    lines = _commands()
    assert [ln.split()[:2] for ln in lines] == [["twinemu", "oned"], ["twinemu", "oned"],
                                                 ["twinemu", "run"]]


@pytest.mark.parametrize("k", [0, 1])
def test_readme_oned_run_command(k, tmp_path):
    line = _commands()[k]
    if "../shared/data" in line and shared_data_dir() is None:
        pytest.skip("reference data ../shared/data is absent (set TWINEMU_SHARED_DATA)")
    work = _checkout(tmp_path)
    # compile (or load) the kernels for this network's array types here first, so the
    # subprocess reads Numba's on-disk cache instead of compiling in a fresh clone
    net = load_network(work / shlex.split(line)[3])
    simulate(net, max_cycles=1, min_cycles=1, record_points=8)
    res = _run(line, work)
    assert res.returncode == 0, res.stderr
    out = work / shlex.split(line)[shlex.split(line).index("--out") + 1]
    doc = json.loads((out / "qoi.json").read_text())
    assert doc["converged"] and (out / "common_carotid_artery_P.last").is_file()
    cca = doc["vessels"]["common_carotid_artery"]
    # Boileau case 2: mean outlet pressure (R1 + R2)·Q̄ = 2.1185e9 Pa s m^-3 × 6.5 mL/s
    assert cca["outlet"]["P_mean"] == pytest.approx(2.1185e9 * 6.5e-6, rel=5e-3)
    if "--site" in line:
        assert doc["sites"]["mid"]["P_mean"] == cca["mid"]["P_mean"]


def test_readme_yaml_excerpt_is_the_config():
    (block,) = _blocks("yaml")
    config = (REPO / "conf" / "simulator" / "openbf_command.yaml").read_text().splitlines()
    shown = [ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(shown) >= 10
    for ln in shown:
        assert ln in config, ln


@pytest.mark.slow
def test_readme_experiment_through_the_command_simulator(tmp_path):
    """`twinemu run simulator=openbf_command experiment=quick`: 36 runs of the CLI, a GP
    that passes the quick experiment's checks (archive and run folder moved to tmp_path)."""
    line = _commands()[2]
    res = _run(line, REPO, [f"archive={tmp_path / 'a.h5'}", f"hydra.run.dir={tmp_path / 'run'}",
                            "progress=false"])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    r2 = {k: v["r2"] for k, v in metrics["validation"]["outputs"].items()}
    assert set(r2) == {"P_sys_inlet", "P_dia_inlet", "P_mean_inlet", "PP_inlet", "PP_outlet",
                       "Q_max_outlet"}
    assert min(r2.values()) > 0.9, r2
    assert yaml.safe_load((REPO / "conf" / "experiment" / "quick.yaml").read_text())[
        "validation"]["checks"]["r2_min"] == 0.9
