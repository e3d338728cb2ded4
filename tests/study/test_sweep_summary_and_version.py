"""Sweeps end with a table across their jobs and a score for Hydra's sweepers; the command
names its own version."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from emulators.cli import main, score
from emulators.sweep import write_summary


def _job(root: Path, num: int, r2: list[float], passed: bool, overrides: list[str]) -> None:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    outs = {f"y{i}": {"r2": v, "nrmse": 1 - v, "coverage": 0.9} for i, v in enumerate(r2)}
    timing = {"emulator": "GaussianProcess", "fit_s": 1.5 * (num + 1), "query_us": 80.0}
    (job / "metrics.json").write_text(json.dumps({"validation": {"outputs": outs},
                                                  "passed": passed, "timing": timing}))
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def test_summary_table_ranks_jobs_by_mean_r2(tmp_path):
    _job(tmp_path, 0, [0.99, 0.95], False, ["emulator.kernel=rbf"])
    _job(tmp_path, 1, [0.999, 0.998], True, ["emulator.kernel=matern52"])
    _job(tmp_path, 10, [0.5], False, ["emulator.kernel=matern32"])
    md = write_summary(tmp_path)
    text = md.read_text()
    assert "best: job 1 (emulator.kernel=matern52), score 0.99850" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert [ln.split("|")[1].strip() for ln in lines] == ["0", "1", "10"]  # numeric order
    assert ("| GaussianProcess | 0.97000 | 0.95000 | 0.0500 | 0.900 | 1.50 | 80 | FAILED |"
            in lines[0])
    csv_rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(csv_rows) == 4


def test_jobs_without_an_exported_file_have_no_query_time(tmp_path):
    """`export.enabled=false`: metrics.json records query_us null; the row says nan."""
    _job(tmp_path, 0, [0.99], True, ["emulator.kernel=rbf"])
    metrics = json.loads((tmp_path / "0" / "metrics.json").read_text())
    metrics["timing"]["query_us"] = None
    (tmp_path / "0" / "metrics.json").write_text(json.dumps(metrics))
    assert write_summary(tmp_path) is not None
    from emulators.sweep import job_rows

    (row,) = job_rows(tmp_path)
    assert math.isnan(row["query_us"]) and row["fit_s"] == 1.5 and row["score"] == 0.99


def test_no_jobs_no_summary(tmp_path):
    assert write_summary(tmp_path) is None


def test_score_is_mean_r2_skipping_non_finite():
    m = {"validation": {"outputs": {"a": {"r2": 0.9}, "b": {"r2": 0.7},
                                    "c": {"r2": float("nan")}}}}
    assert score(m) == pytest.approx(0.8)
    assert math.isnan(score({}))


def test_version_is_twinemus_not_hydras(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"twinemu {version('twinemu')}"
    assert main(["run", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"twinemu {version('twinemu')}"


def test_init_refuses_an_existing_study(tmp_path, capsys):
    assert main(["init", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "conf" / "simulator" / "my_solver.yaml").is_file()
    assert main(["init", str(tmp_path / "s")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_starter_study_composes_and_builds_its_command_simulator(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from emulators.pipeline.targets import instantiate

    main(["init", str(tmp_path / "s")])
    with initialize_config_dir(config_dir=str(tmp_path / "s" / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config"), resolve=True)
    monkeypatch.chdir(tmp_path / "s")
    sim = instantiate(cfg["simulator"], "simulator")
    out = sim({"HR": 60.0, "SV": 70.0, "R": 1.2e8, "C": 1.0e-8})
    # mean pressure = SV·HR/60 · R: 70e-6 m³/s × 1.2e8 Pa s/m³ = 8400 Pa = 63.0 mmHg
    assert float(out["p_mean"]) == pytest.approx(8400 / 133.322, rel=1e-9)
