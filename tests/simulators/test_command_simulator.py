"""The command simulator runs an external program per design point: parameters rendered into
its input file, outputs parsed from its output file, failures (exit code, timeout, garbage)
turned into archived SimulationErrors with the solver's stderr tail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets import Archive
from datasets.campaign import run_campaign
from simulators.command import CommandSimulator
from simulators.errors import ConfigurationError, SimulationError

SOLVER = Path(__file__).parent / "data" / "standin_solver.py"
TEMPLATE = "# stand-in solver input\nR: ${R}\nQ: ${Q}\nmode: ${mode}\n"


def make(fmt: str = "json", mode: str = "ok", timeout: float = 30.0, **kw) -> CommandSimulator:
    outputs = {"json": [{"name": "p_mean", "key": "pressure.mean"},
                        {"name": "wave", "key": "pressure.wave", "shape": [5]}],
               "csv": [{"name": "p_mean"}, {"name": "p_max"}],
               "hdf5": [{"name": "p_mean", "key": "pressure/mean"},
                        {"name": "wave", "key": "pressure/wave", "shape": [5]}]}[fmt]
    ext = {"json": "json", "csv": "csv", "hdf5": "h5"}[fmt]
    return CommandSimulator(
        command=["{python}", "standin_solver.py", "{input}", fmt],
        files=[str(SOLVER)],
        parameters=[{"name": "R", "low": 1.0, "high": 2.0},
                    {"name": "Q", "low": 3.0, "high": 4.0}],
        fixed={"mode": mode},
        input={"file": "input.yaml", "template": TEMPLATE},
        output={"file": f"result.{ext}"},
        outputs=outputs, timeout=timeout, **kw)


@pytest.mark.parametrize("fmt", ["json", "csv", "hdf5"])
def test_outputs_parsed_from_each_file_format(fmt, tmp_path):
    sim = make(fmt, workdir=str(tmp_path))
    out = sim({"R": 1.5, "Q": 3.2})
    assert float(out["p_mean"]) == pytest.approx(4.8, rel=1e-12)
    if fmt == "csv":
        assert float(out["p_max"]) == pytest.approx(4.8 * 1.4, rel=1e-12)
    else:
        np.testing.assert_allclose(out["wave"], 4.8 * (1 + 0.1 * np.arange(5)), rtol=1e-12)
    # a successful run's folder is removed (keep="failed")
    assert list((tmp_path / "twinemu-command").iterdir()) == []


def test_nonzero_exit_reports_code_and_stderr_tail_and_keeps_folder(tmp_path):
    sim = make(mode="fail", workdir=str(tmp_path))
    with pytest.raises(SimulationError) as info:
        sim({"R": 1.5, "Q": 3.2})
    msg = info.value.reason
    assert "exited with code 3" in msg
    assert "negative area in vessel 3" in msg
    kept = list((tmp_path / "twinemu-command").iterdir())
    assert len(kept) == 1 and (kept[0] / "input.yaml").read_text().startswith("# stand-in")
    assert "R: 1.5" in (kept[0] / "input.yaml").read_text()


def test_timeout_kills_the_solver(tmp_path):
    import time

    sim = make(mode="hang", timeout=1.0, workdir=str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(SimulationError, match=r"timed out after 1 s"):
        sim({"R": 1.5, "Q": 3.2})
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("fmt", ["json", "csv", "hdf5"])
def test_unparsable_output_is_a_simulation_error(fmt, tmp_path):
    sim = make(fmt, mode="garbage", workdir=str(tmp_path))
    with pytest.raises(SimulationError, match=r"cannot read result\."):
        sim({"R": 1.5, "Q": 3.2})


def test_wrong_shape_is_a_simulation_error(tmp_path):
    sim = make(workdir=str(tmp_path))
    sim.outputs[1] = type(sim.outputs[1])("wave", "", (7,))
    with pytest.raises(SimulationError, match=r"shape \(7,\)"):
        sim({"R": 1.5, "Q": 3.2})


def test_campaign_archives_successes_and_failures_with_exit_code(tmp_path):
    ok, bad = make(workdir=str(tmp_path)), make(mode="fail", workdir=str(tmp_path))
    X = ok.space.sample(3, seed=1)
    with Archive.create(tmp_path / "c.h5", ok.space, ok.outputs) as ar:
        s1 = run_campaign(ok, X, ar, run_ids=["a0", "a1", "a2"], progress=False)
        s2 = run_campaign(bad, X[:1], ar, run_ids=["b0"], progress=False)
        assert s1.ok == 3 and s2.failed == 1
        Xs, Y = ar.inputs(), ar.output("p_mean")
        assert "exited with code 3" in ar.reasons()[list(ar.run_ids()).index("b0")]
        good = ar.status() == 0
        np.testing.assert_allclose(Y[good], Xs[good, 0] * Xs[good, 1], rtol=1e-12)
        assert "exited with code 3" in s2.reasons["b0"]


def test_input_written_from_parameters_in_other_formats(tmp_path):
    import configparser
    import json

    for fmt in ("json", "yaml", "ini", "text"):
        sim = CommandSimulator(
            command=["{python}", "-c", "import shutil; shutil.copy('in.txt', 'copy.txt');"
                     "open('r.json','w').write('{{\"y\": 1}}')"],
            parameters=[{"name": "R", "low": 1.0, "high": 2.0}],
            input={"file": "in.txt", "format": fmt}, output={"file": "r.json"},
            outputs=["y"], keep="all", workdir=str(tmp_path / fmt))
        sim({"R": 1.25})
        (folder,) = (tmp_path / fmt / "twinemu-command").iterdir()
        text = (folder / "copy.txt").read_text()
        if fmt == "json":
            assert json.loads(text) == {"R": 1.25}
        elif fmt == "ini":
            cp = configparser.ConfigParser()
            cp.read_string(text)
            assert float(cp["parameters"]["R"]) == 1.25
        else:
            assert "R" in text and "1.25" in text


def test_bad_configuration_is_named():
    with pytest.raises(ConfigurationError, match="list of arguments"):
        CommandSimulator("openBF in.yaml", [{"name": "R", "low": 1, "high": 2}], ["y"],
                         {"file": "r.json"})
    with pytest.raises(ConfigurationError, match="output format"):
        CommandSimulator(["x"], [{"name": "R", "low": 1, "high": 2}], ["y"],
                         {"file": "r.vtk"})
    with pytest.raises(ConfigurationError, match=r"placeholder 'Rp' .*R, input"):
        CommandSimulator(["solver", "--r={Rp}"], [{"name": "R", "low": 1, "high": 2}], ["y"],
                         {"file": "r.json"})
    with pytest.raises(ConfigurationError, match="not found"):
        CommandSimulator(["x"], [{"name": "R", "low": 1, "high": 2}], ["y"],
                         {"file": "r.json"}, files=["/nonexistent/solver.py"])
