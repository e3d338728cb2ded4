"""Every config in conf/ composes and validates; YAML cannot name foreign code."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from emulators.errors import ConfigError
from emulators.pipeline import run_experiment
from emulators.pipeline.schemas import (
    TOP_LEVEL_KEYS,
    DesignConfig,
    SensitivityConfig,
    ValidationConfig,
)
from emulators.pipeline.schemas import build as _schema
from emulators.pipeline.targets import check_targets, instantiate

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
SIMULATORS = sorted(p.stem for p in (CONF / "simulator").glob("*.yaml"))


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_validates(name):
    cfg = OmegaConf.to_container(_compose(f"experiment={name}"), resolve=True)
    assert set(cfg) <= TOP_LEVEL_KEYS
    check_targets(cfg)
    _schema(DesignConfig, cfg["design"], "design")
    _schema(ValidationConfig, cfg["validation"], "validation")
    _schema(SensitivityConfig, cfg["sensitivity"], "sensitivity")


@pytest.mark.parametrize("name", SIMULATORS)
def test_every_simulator_config_instantiates(name):
    cfg = OmegaConf.to_container(_compose(f"simulator={name}"), resolve=True)
    sim = instantiate(cfg["simulator"], "simulator")
    assert len(sim.space) >= 1 and sim.outputs
    assert isinstance(sim.config(), dict)


def test_foreign_targets_are_refused(tmp_path):
    cfg = OmegaConf.to_container(_compose("experiment=quick"), resolve=True)
    cfg["executor"] = {"_target_": "os.system", "command": "echo hacked"}
    with pytest.raises(ConfigError, match="'os.system' at 'executor' is not allowed"):
        run_experiment(cfg, tmp_path)
    # a path through one of our modules to someone else's function is refused too
    written = tmp_path / "written.npy"
    cfg["executor"] = {"_target_": "emulators.runtime.np.save", "file": str(written),
                       "arr": [1, 2]}
    with pytest.raises(ConfigError, match="configs may build registered classes only"):
        run_experiment(cfg, tmp_path)
    assert not written.exists()
    cfg["executor"] = {"_target_": "emulators.NoSuchThing"}
    with pytest.raises(ConfigError, match="'emulators.NoSuchThing' at 'executor' is not allow"):
        run_experiment(cfg, tmp_path)


def test_unknown_and_missing_keys_are_errors(tmp_path):
    cfg = OmegaConf.to_container(_compose("experiment=quick"), resolve=True)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['n_trian'\] in 'design'"):
        run_experiment({**cfg, "design": {**cfg["design"], "n_trian": 3}}, tmp_path)
    with pytest.raises(ConfigError, match="unknown top-level"):
        run_experiment({**cfg, "emulater": {}}, tmp_path)
    with pytest.raises(ConfigError, match="'design.n_test' must be set"):
        run_experiment({**cfg, "design": {"n_train": 4}}, tmp_path)
    bad_sim = {**cfg["simulator"], "colour": "red"}
    with pytest.raises(ConfigError, match="colour"):
        run_experiment({**cfg, "simulator": bad_sim}, tmp_path)


def test_a_shadowing_package_is_named(tmp_path):
    """A foreign 'datasets' package first on the path gives an error naming it."""
    import subprocess
    import sys

    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "__init__.py").write_text("x = 1\n")
    res = subprocess.run([sys.executable, "-c", "import emulators.pipeline"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert res.returncode != 0
    assert f"found {tmp_path / 'datasets' / '__init__.py'}" in res.stderr
    assert "not twinemu's 'datasets' package" in res.stderr


def test_a_twinemu_function_is_not_a_target(tmp_path):
    """A config whose only target was emulators.runtime.write_file wrote a .pth file into
    site-packages (code run at the next Python start): functions are never targets."""
    cfg = OmegaConf.to_container(_compose("experiment=quick"), resolve=True)
    evil = tmp_path / "evil.pth"
    cfg["executor"] = {"_target_": "emulators.runtime.write_file", "path": str(evil),
                       "arrays": {}, "card": {}}
    with pytest.raises(ConfigError, match="'emulators.runtime.write_file' at 'executor' is "
                                          "not allowed"):
        run_experiment(cfg, tmp_path)
    assert not evil.exists()
    cfg["executor"] = {"_target_": "simulators.executors.SerialExecutor", "_partial_": True}
    with pytest.raises(ConfigError, match="'_partial_' at 'executor' is not supported"):
        run_experiment(cfg, tmp_path)


@pytest.mark.parametrize("override, message", [
    ({"export": {"filename": "/tmp/x.safetensors"}}, "'export.filename' must be a plain"),
    ({"export": {"filename": "../../x.safetensors"}}, "'export.filename' must be a plain"),
    ({"name": "../../.."}, "'name' must be a short name"),
    ({"seed": "abc"}, "'seed' must be an integer, got 'abc'"),
    ({"batch_size": 0}, r"'<root>.batch_size' must lie in \[1, 100000\], got 0"),
    ({"validation": {"level": 2}}, r"'validation.level' must lie in \(0, 1\), got 2"),
    ({"sensitivity": {"n": 0}}, r"'sensitivity.n' must lie in \[16"),
    ({"design": {"n_train": 2_000_000, "n_test": 4}}, r"'design.n_train' must lie in"),
    ({"archive": "/etc/passwd"}, "'archive' must name an HDF5 file"),
])
def test_bad_values_fail_before_anything_runs(tmp_path, override, message):
    cfg = OmegaConf.to_container(_compose("experiment=quick"), resolve=True)
    cfg.update(override)
    with pytest.raises(ConfigError, match=message):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)
    assert not (tmp_path / "outputs").exists()  # no campaign started


def test_a_bad_emulator_setting_fails_before_the_campaign(tmp_path):
    cfg = OmegaConf.to_container(_compose("experiment=quick"), resolve=True)
    cfg["emulator"] = {**cfg["emulator"], "pca": 2.5}
    with pytest.raises(ConfigError, match="pca must be a variance fraction"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)
    assert not (tmp_path / "outputs").exists()
