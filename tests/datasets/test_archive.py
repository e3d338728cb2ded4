"""The campaign archive: round trip, failures, resume, damage."""

import h5py
import numpy as np
import pytest

from datasets import Archive, ArchiveError, SchemaVersionError
from datasets.archive import Provenance
from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter("R", 1.0, 2.0, unit="Pa s m^-3"), Parameter("C", 0.1, 0.3)])
OUTPUTS = [OutputSpec("p_mean", "Pa"), OutputSpec("p_wave", "Pa", (4,))]


@pytest.fixture
def archive(tmp_path):
    with Archive.create(tmp_path / "runs.h5", SPACE, OUTPUTS) as a:
        yield a


def test_round_trip_with_units_and_provenance(archive, tmp_path):
    archive.append({"R": 1.5, "C": 0.2}, {"p_mean": 12.5, "p_wave": [1, 2, 3, 4]},
                   fidelity="0d", run_id="a",
                   provenance=Provenance(simulator="wk", version="1.0", wall_time=0.25))
    archive.append([1.1, 0.15], {"p_mean": 11.0, "p_wave": [0, 1, 0, 1]}, fidelity="1d")
    archive.close()
    with Archive.open(tmp_path / "runs.h5") as a:
        assert len(a) == 2
        X, Y = a.arrays("p_mean")
        np.testing.assert_array_equal(X, [[1.5, 0.2], [1.1, 0.15]])
        np.testing.assert_array_equal(Y, [12.5, 11.0])
        X1, W = a.arrays("p_wave", fidelity="1d")
        np.testing.assert_array_equal(W, [[0, 1, 0, 1]])
        assert a.output_spec("p_mean").unit == "Pa"
        assert a.space == SPACE
        prov = a.provenance()
        assert prov["simulator"][0] == "wk" and prov["wall_time"][0] == 0.25
        assert list(a.run_ids()) == ["a", "1"]


def test_failed_runs_are_kept_flagged_and_excluded_from_training(archive):
    archive.append({"R": 1.2, "C": 0.2}, {"p_mean": 10.0})
    archive.append({"R": 1.9, "C": 0.2}, None, status="failed", reason="negative area in aorta")
    assert len(archive) == 2 and archive.n_failed == 1
    X, Y = archive.arrays("p_mean")
    assert X.shape == (1, 2)
    X, Y = archive.arrays("p_mean", include_failed=True)
    assert X.shape == (2, 2) and np.isnan(Y[1])
    assert archive.summary()["failure_reasons"] == {"negative area in aorta": 1}


def test_uncommitted_rows_are_invisible_and_reused(tmp_path):
    path = tmp_path / "runs.h5"
    with Archive.create(path, SPACE, OUTPUTS) as a:
        a.append({"R": 1.2, "C": 0.2}, {"p_mean": 10.0})
    # Simulate a writer killed after writing a row but before the commit point.
    with h5py.File(path, "a") as f:
        f["inputs"][1] = [9.9, 9.9]
        f["run_id"][1] = b"ghost"
    with Archive.open(path, "a") as a:
        assert len(a) == 1
        a.append({"R": 1.3, "C": 0.25}, {"p_mean": 11.0})
        np.testing.assert_array_equal(a.inputs(), [[1.2, 0.2], [1.3, 0.25]])
        assert list(a.run_ids()) == ["0", "1"]


def test_bad_appends_are_refused_with_clear_messages(archive):
    with pytest.raises(ArchiveError, match="unknown outputs"):
        archive.append({"R": 1.2, "C": 0.2}, {"p_maen": 1.0})
    with pytest.raises(ArchiveError, match="missing \\['C'\\]"):
        archive.append({"R": 1.2}, {"p_mean": 1.0})
    with pytest.raises(ArchiveError, match="shape"):
        archive.append({"R": 1.2, "C": 0.2}, {"p_wave": [1, 2]})
    assert len(archive) == 0


def test_read_only_archive_refuses_append(archive, tmp_path):
    archive.close()
    with Archive.open(tmp_path / "runs.h5") as a, pytest.raises(ArchiveError, match="read-only"):
        a.append({"R": 1.2, "C": 0.2}, {"p_mean": 1.0})


def test_existing_file_is_not_overwritten(archive, tmp_path):
    with pytest.raises(ArchiveError, match="already exists"):
        Archive.create(tmp_path / "runs.h5", SPACE, OUTPUTS)


def test_corrupt_file_gives_archive_error(tmp_path):
    good = tmp_path / "good.h5"
    with Archive.create(good, SPACE, OUTPUTS) as a:
        a.append({"R": 1.2, "C": 0.2}, {"p_mean": 10.0})
    data = good.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArchiveError, match="truncated.h5"):
        Archive.open(tmp_path / "truncated.h5")
    (tmp_path / "text.h5").write_text("not hdf5 at all")
    with pytest.raises(ArchiveError, match="not an HDF5 file"):
        Archive.open(tmp_path / "text.h5")


def test_foreign_hdf5_and_future_schema(tmp_path):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["velocity"] = np.zeros(3)
    with pytest.raises(ArchiveError, match="not a twinemu campaign archive.*velocity"):
        Archive.open(tmp_path / "foreign.h5")
    with Archive.create(tmp_path / "future.h5", SPACE, OUTPUTS):
        pass
    with h5py.File(tmp_path / "future.h5", "a") as f:
        f.attrs["schema_version"] = "2.0"
    with pytest.raises(SchemaVersionError, match="schema 2.0"):
        Archive.open(tmp_path / "future.h5")


def test_open_or_create_checks_the_space(tmp_path):
    path = tmp_path / "runs.h5"
    Archive.create(path, SPACE, OUTPUTS).close()
    other = ParameterSpace([Parameter("R", 1.0, 3.0), Parameter("C", 0.1, 0.3)])
    with pytest.raises(ArchiveError, match="other bounds"):
        Archive.open_or_create(path, other, OUTPUTS)
    with Archive.open_or_create(path, SPACE, [*OUTPUTS, OutputSpec("q", "m^3/s")]) as a:
        assert a.output_names == ["p_mean", "p_wave", "q"]


def test_long_text_is_cut_to_its_column_and_long_ids_refused(archive):
    archive.append({"R": 1.2, "C": 0.2}, None, status="failed", reason="é" * 2000)
    reason = archive.reasons()[0]
    assert reason.endswith("…") and len(reason.encode()) <= 1024 and reason.startswith("éé")
    with pytest.raises(ArchiveError, match="longer than 128 bytes"):
        archive.append({"R": 1.2, "C": 0.2}, {"p_mean": 1.0}, run_id="x" * 200)
    assert len(archive) == 1


WRITER = """
import sys
import numpy as np
from datasets import Archive
from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace
space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
a = Archive.open_or_create(sys.argv[1], space, [OutputSpec("y"), OutputSpec("w", "", (50,))])
i = len(a)
print("ready", flush=True)
while True:
    a.append([0.5, 0.5], {"y": float(i), "w": np.full(50, float(i))}, run_id=f"r{i}",
             fidelity="0d", reason="note " * 20)
    i += 1
"""


@pytest.mark.slow
def test_writers_killed_mid_append_lose_nothing_committed(tmp_path):
    """SIGKILL a writer appending as fast as it can, 25 times at random instants: every
    committed run must read back intact, and the next writer must be able to append."""
    import random
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "a.h5"
    rng = random.Random(0)
    last = 0
    for _ in range(25):
        p = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        p.send_signal(signal.SIGKILL)
        p.wait()
        with Archive.open(path) as a:
            n = len(a)
            assert n > last  # the last writer could append: the file is not damaged
            assert list(a.run_ids()) == [f"r{i}" for i in range(n)]
            np.testing.assert_array_equal(a.output("y"), np.arange(n))
            np.testing.assert_array_equal(a.output("w")[:, 7], np.arange(n))
        last = n
