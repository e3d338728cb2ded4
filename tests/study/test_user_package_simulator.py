"""A modeller's own simulator class, in their own installed package, registered through the
``twinemu.targets`` entry-point group, is built from a config exactly like ours; a function
registered the same way is refused."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from emulators.errors import ConfigError
from emulators.pipeline import run_experiment
from emulators.pipeline.targets import resolve

CONF = Path(__file__).resolve().parents[2] / "conf"

PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "mylab-twinemu-sims"
        version = "0.1"
        [project.entry-points."twinemu.targets"]
        "mylab.PulseSimulator" = "mylab_sims.pulse:PulseSimulator"
        "mylab.not_a_class" = "mylab_sims.pulse:not_a_class"
        [tool.setuptools]
        packages = ["mylab_sims"]
        """,
    "mylab_sims/__init__.py": "",
    "mylab_sims/pulse.py": '''
        import numpy as np
        from simulators.base import OutputSpec
        from simulators.design import ParameterSpace

        class PulseSimulator:
            """Mean pressure of a resistance: p = Q R (mmHg)."""
            name, version = "pulse", "0.1"
            def __init__(self, q_low=3.0, q_high=6.0, fidelity="lab"):
                self.fidelity = fidelity
                self.space = ParameterSpace([
                    {"name": "R", "low": 10.0, "high": 20.0, "unit": "mmHg s/L"},
                    {"name": "Q", "low": q_low, "high": q_high, "unit": "L/s"}])
                self.outputs = [OutputSpec("p", "mmHg")]
            def config(self):
                return {"simulator": self.name, "space": self.space.to_dict()}
            def __call__(self, params):
                return {"p": np.float64(params["R"] * params["Q"])}

        def not_a_class(**kw):
            raise AssertionError("a function target must never be called")
        ''',
}


@pytest.fixture(scope="module")
def installed_user_package(tmp_path_factory):
    """pip-install the tiny package into a folder put on sys.path (a real install)."""
    root = tmp_path_factory.mktemp("userpkg")
    src, site = root / "src", root / "site"
    for rel, text in PACKAGE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(textwrap.dedent(text))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(src)],
                   check=True, timeout=120)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("mylab_sims.pulse", None)
    sys.modules.pop("mylab_sims", None)
    importlib.invalidate_caches()


def test_user_class_runs_an_experiment_from_a_config(installed_user_package, tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[
            "experiment=quick", "progress=false", f"archive={tmp_path / 'a.h5'}",
            "~simulator", "+simulator._target_=mylab.PulseSimulator", "+simulator.q_high=5.0",
            "sensitivity.enabled=false", "executor=serial"]), resolve=True)
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    m = res.metrics["validation"]["outputs"]["p"]
    assert m["r2"] > 0.999  # p = R Q is smooth: 16 runs fit it almost exactly
    from datasets import Archive

    with Archive.open(tmp_path / "a.h5") as ar:
        X = ar.inputs()
        assert X[:, 1].max() <= 5.0  # the config's argument reached the user's class
        assert list(ar.fidelities())[0] == "lab"


def test_registered_function_is_refused(installed_user_package):
    with pytest.raises(ConfigError, match="is not a class"):
        resolve("mylab.not_a_class", "simulator")
    with pytest.raises(ConfigError, match="not allowed"):
        resolve("mylab_sims.pulse.PulseSimulator", "simulator")
