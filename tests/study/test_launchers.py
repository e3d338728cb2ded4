"""Launchers say what they do: SLURM without SLURM is an error (local processes are an
explicit choice); Dask's INFO logging is off by default."""

from __future__ import annotations

import logging

import pytest

from simulators.errors import ConfigurationError


def test_slurm_without_sbatch_is_an_error_that_says_so(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    from simulators.executors import SlurmExecutor

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(ConfigurationError, match=r"needs SLURM.*executor.cluster=local"):
        SlurmExecutor(folder=str(tmp_path / "jobs"))
    assert not (tmp_path / "jobs").exists()  # nothing written before the refusal
    # the explicit local choice still works
    ex = SlurmExecutor(folder=str(tmp_path / "jobs"), cluster="local", poll=0.1,
                       timeout_min=1)
    assert [r for _, r in ex.map_unordered(abs, [-3])] == [3]
    ex.close()


def test_slurm_config_is_refused_by_the_pipeline_without_slurm(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from emulators.errors import ConfigError
    from emulators.pipeline import run_experiment

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[
            "experiment=quick", "executor=slurm", "simulator=ishigami", "progress=false",
            f"executor.folder={tmp_path / 'slurm'}"]), resolve=True)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="needs SLURM"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)


def test_dask_info_logging_is_quiet_by_default(caplog):
    pytest.importorskip("distributed")
    from simulators.executors import DaskExecutor

    caplog.set_level(logging.INFO)  # as Hydra's job logging does
    ex = DaskExecutor(n_workers=1)
    try:
        assert sorted(r for _, r in ex.map_unordered(abs, [-1, -2])) == [1, 2]
    finally:
        ex.close()
    noisy = [r for r in caplog.records
             if r.name.startswith(("distributed", "dask")) and r.levelno < logging.WARNING]
    assert noisy == []
