"""The wheel, installed into a fresh venv outside the checkout, carries its configs and
network files: `twinemu init` writes a study that `twinemu run` runs (from the study folder
and with --config-dir), and the packaged experiments run from an empty folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))
SMALL = ["progress=false", "sensitivity.n=256",
         "sensitivity.n_boot=20"]


def _site_packages() -> str:
    import numpy

    return str(Path(numpy.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """twinemu's wheel in a fresh venv; the heavy dependencies come from this interpreter's
    site-packages through PYTHONPATH (no download, no index)."""
    tmp = tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    src = tmp / "src"
    for rel in files:
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((REPO / rel).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("twinemu-*.whl")
    subprocess.run([str(BASE_PYTHON), "-m", "venv", "--without-pip", str(tmp / "venv")],
                   check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(tmp / "venv" / "bin" / "python"),
                    "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300)
    return tmp


def twinemu(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TWINEMU_CONF", "PYTHONPATH")}
    env.update(PYTHONPATH=_site_packages(), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    return subprocess.run([str(venv / "venv" / "bin" / "twinemu"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_wheel_init_and_run_outside_the_checkout(venv):
    where = twinemu(venv, "--version", cwd=venv)
    assert where.stdout.strip() == "twinemu 0.1.0", where.stdout + where.stderr
    # the installed package is the one running, not the checkout
    probe = subprocess.run([str(venv / "venv" / "bin" / "python"), "-c",
                            "import emulators, simulators.paths as p; print(emulators.__file__);"
                            "print(p.conf_dir())"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": _site_packages()}, cwd=venv)
    mod, conf = probe.stdout.split()
    assert str(venv / "venv") in mod and conf.endswith("twinemu_conf"), probe.stdout

    study = venv / "my study"
    res = twinemu(venv, "init", str(study), cwd=venv)
    assert res.returncode == 0, res.stderr
    assert len((study / "README.md").read_text().splitlines()) == 5
    res = twinemu(venv, "run", *SMALL, cwd=study)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (metrics,) = (study / "outputs" / "first").glob("*/metrics.json")
    val = json.loads(metrics.read_text())["validation"]["outputs"]
    assert val["p_mean"]["r2"] > 0.99 and val["p_pulse"]["r2"] > 0.95

    # --config-dir from another folder; the packaged Windkessel experiment from an empty one
    empty = venv / "empty"
    empty.mkdir()
    res = twinemu(venv, "run", "--config-dir", str(study / "conf"), *SMALL,
                  "sensitivity.enabled=false", cwd=empty)
    assert res.returncode == 0, res.stderr[-3000:]
    res = twinemu(venv, "run", "experiment=quick", "progress=false", "sensitivity.enabled=false",
                  cwd=empty)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert list((empty / "outputs" / "quick").glob("*/emulator.safetensors"))
    # a 1D network file resolves against the packaged conf/
    res = twinemu(venv, "run", "simulator=oned_cca", "--cfg", "job", cwd=empty)
    assert res.returncode == 0 and "boileau_cca.yaml" in res.stdout
    probe = subprocess.run([str(venv / "venv" / "bin" / "python"), "-c",
                            "from simulators.oned.simulator import resolve_network_path as r;"
                            "print(r('simulator/networks/boileau_cca.yaml'))"],
                           capture_output=True, text=True, cwd=empty,
                           env={**os.environ, "PYTHONPATH": _site_packages()})
    assert "twinemu_conf" in probe.stdout, probe.stderr
