"""The run folder (and default archive) is named after what runs: the experiment's own name
when one is chosen, else ``<simulator>_default`` after the simulator chosen — not
``windkessel_default`` whatever the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.pipeline.run import default_name

REPO = Path(__file__).resolve().parents[2]


def _run_dir(tmp_path: Path, *overrides: str, key: str = "hydra.run.dir") -> str:
    """``hydra.run.dir`` as `twinemu run` resolves it (the config printed, nothing run)."""
    res = subprocess.run([sys.executable, "-m", "emulators.cli", "run", *overrides, "--cfg",
                          "all", "--resolve", "-p", key], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("overrides, folder", [
    ((), "windkessel_default"),
    (("simulator=ishigami",), "ishigami_default"),
    (("simulator=oned_cca",), "oned_cca_default"),
    (("experiment=adaptive_oned_cca",), "adaptive_oned_cca"),
    (("simulator=ishigami", "name=my_study"), "my_study"),
])
def test_cli_run_folder_is_named_after_the_experiment_or_simulator(tmp_path, overrides,
                                                                   folder):
    path = _run_dir(tmp_path, *overrides)
    assert path.split("/")[:2] == ["outputs", folder], path


def test_sweep_folder_is_named_alike(tmp_path):
    # a plain interpolation of hydra.runtime.choices: Hydra resolves the sweep folder before
    # its HydraConfig exists, where the ${hydra:...} resolver would fail
    path = _run_dir(tmp_path, "simulator=ishigami", key="hydra.sweep.dir")
    assert path.split("/")[:2] == ["multirun", "ishigami_default"], path


def test_default_name_prefers_the_experiments_own():
    assert default_name(None, "ishigami") == "ishigami_default"
    assert default_name("quick", "windkessel") == "quick"
    assert default_name(None, None) == "experiment_default"


def test_api_run_without_a_name_is_named_after_its_simulator(tmp_path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from emulators.pipeline import run_experiment

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[
            "simulator=ishigami", "progress=false", "sensitivity.enabled=false",
            "export.enabled=false", "executor=serial", "design.n_train=8",
            "design.n_test=4", "emulator.restarts=1"]), resolve=True)
    assert cfg["name"] is None
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    # the default archive and the report title carry the simulator's name
    assert res.archive.name.startswith("ishigami_default-"), res.archive
    assert "twinemu experiment: ishigami_default" in res.report.read_text()
