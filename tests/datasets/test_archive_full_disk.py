"""A full disk mid-campaign: committed runs stay readable, the archive stays appendable,
and older (schema 1.0) archives left truncated by a full disk are repaired."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasets import Archive, ArchiveError
from datasets.errors import ArchiveRepairError
from datasets.h5file import superblock
from datasets.repair import repair
from emulators.cli import main as twinemu
from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace

REPO = Path(__file__).resolve().parents[2]
LEGACY = Path(__file__).with_name("legacy_archive.py")
SPACE = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
OUTPUTS = [OutputSpec("y"), OutputSpec("w", "", (50,))]

WRITER = """
import resource, signal, sys
import numpy as np
sys.path.insert(0, {repo!r})
from datasets import Archive
from datasets.errors import ArchiveFullError
from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
try:
    a = Archive.open_or_create(sys.argv[1], space, [OutputSpec("y"), OutputSpec("w", "", (50,))])
    i = len(a)
    while True:
        a.append([0.5, 0.5], {{"y": float(i), "w": np.full(50, float(i))}}, run_id=f"r{{i}}",
                 fidelity="0d", reason="note " * 20)
        i += 1
except ArchiveFullError as exc:
    print(exc.committed)
    print(exc)
"""


def _fill(tmp_path: Path, path: Path, limit: int) -> tuple[int, str]:
    """Append in a child limited to ``limit``-byte files until the "disk" is full."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO)))
    out = subprocess.run([sys.executable, str(script), str(path), str(limit)],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert lines, out.stderr[-2000:]
    return int(lines[0]), lines[1]


def _check_intact(path: Path, n: int) -> None:
    with Archive.open(path) as a:
        assert len(a) == n
        assert list(a.run_ids()) == [f"r{i}" for i in range(n)]
        np.testing.assert_array_equal(a.output("y"), np.arange(n))
        np.testing.assert_array_equal(a.output("w")[:, 49], np.arange(n))
        assert a.verify().ok


def _limits_case(tmp_path, limit):
    path = tmp_path / f"full-{limit}.h5"
    n, message = _fill(tmp_path, path, limit)
    assert "the disk is full" in message and f"{n} runs committed are safe" in message
    assert os.path.getsize(path) <= limit
    _check_intact(path, n)
    # space is back (no limit here): the campaign goes on, through a capacity growth
    with Archive.open(path, "a") as a:
        for i in range(n, n + 70):
            a.append([0.5, 0.5], {"y": float(i), "w": np.full(50, float(i))}, run_id=f"r{i}")
    _check_intact(path, n + 70)
    sb = superblock(path)
    assert os.path.getsize(path) == sb.stored_eof  # reserved space given back on close
    return n


@pytest.mark.parametrize("limit", [400_000, 1_000_000])
def test_full_disk_keeps_every_committed_run_and_the_archive_appendable(tmp_path, limit):
    """A child appends until a file-size limit (RLIMIT_FSIZE, as a full disk) stops it:
    it gets ArchiveFullError; every committed run reads back exactly; appends resume."""
    n = _limits_case(tmp_path, limit)
    assert n >= 64  # these limits leave room for at least one block of runs


@pytest.mark.slow
@pytest.mark.parametrize("limit", [20_000, 150_000, 520_000, 640_001, 777_777, 1_234_567,
                                   1_500_001])
def test_full_disk_at_more_sizes(tmp_path, limit):
    _limits_case(tmp_path, limit)


def test_appends_between_growths_stay_inside_the_file(tmp_path):
    """Only a capacity growth (every 64 runs, preceded by a space reservation) enlarges the
    file; the appends in between rewrite reserved chunks in place, so they cannot meet a
    full disk."""
    path = tmp_path / "a.h5"
    with Archive.create(path, SPACE, OUTPUTS) as a:
        eofs = []
        for i in range(130):
            a.append([0.1, 0.2], {"y": float(i)})
            eofs.append(superblock(path).stored_eof)
    grew = [i for i in range(1, 130) if eofs[i] != eofs[i - 1]]
    assert grew == [64, 128]


def test_a_new_archive_on_a_full_disk_is_not_left_half_made(tmp_path):
    path = tmp_path / "tiny.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO)))
    out = subprocess.run([sys.executable, str(script), str(path), "4000"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[0] == "0" and "0 runs committed" in out.stdout
    assert not path.exists()


def _legacy_truncated(tmp_path: Path, limit: int = 500_000) -> tuple[Path, int]:
    """A schema 1.0 archive whose writer hit the disk limit mid-append (truncated)."""
    path = tmp_path / "old.h5"
    out = subprocess.run([sys.executable, str(LEGACY), str(path), str(limit)],
                         capture_output=True, text=True, timeout=60)
    n = int(out.stdout.split()[0])
    assert os.path.getsize(path) < superblock(path).stored_eof  # the 1.0 failure
    return path, n


def test_repair_recovers_a_truncated_schema_10_archive(tmp_path):
    path, n = _legacy_truncated(tmp_path)
    original = path.read_bytes()
    with pytest.raises(ArchiveError, match="truncated.*twinemu archive repair"):
        Archive.open(path)
    result = repair(path)
    assert result.repaired and result.ok and result.runs == n == 192
    assert "zero-extended" in str(result) and f"{n} committed runs" in str(result)
    assert Path(result.backup).read_bytes() == original  # nothing destroyed
    _check_intact(path, n)
    with Archive.open(path, "a") as a:  # and the campaign can go on
        a.append([0.5, 0.5], {"y": float(n), "w": np.full(50, float(n))}, run_id=f"r{n}")
    assert str(repair(path)).endswith(f"{n + 1} committed runs read back (no checksums: "
                                      f"schema 1.0; 'twinemu archive repair --upgrade' adds "
                                      f"them)")
    upgraded = repair(path, upgrade=True)
    assert "upgraded schema 1.0 to 1.1" in str(upgraded) and upgraded.checksummed
    _check_intact(path, n + 1)
    with Archive.open(path) as a:
        assert a.schema_version == "1.1" and a.checksummed


def test_repair_leaves_a_healthy_archive_untouched(tmp_path):
    path = tmp_path / "ok.h5"
    with Archive.create(path, SPACE, OUTPUTS) as a:
        a.append([0.5, 0.5], {"y": 1.0}, run_id="r0")
    before = path.read_bytes()
    result = repair(path)
    assert not result.repaired and result.backup is None and result.runs == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.h5"]


def test_twinemu_archive_repair_exit_codes(tmp_path, capsys):
    path, n = _legacy_truncated(tmp_path)
    assert twinemu(["archive", "info", str(path)]) == 1  # truncated: says to repair
    assert "twinemu archive repair" in capsys.readouterr().err
    assert twinemu(["archive", "repair", str(path)]) == 0
    assert "repaired" in capsys.readouterr().out
    assert twinemu(["archive", "info", str(path)]) == 0
    assert f'"runs": {n}' in capsys.readouterr().out
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\0" * 4096)
    assert twinemu(["archive", "repair", str(junk)]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err
    with pytest.raises(ArchiveRepairError, match="no file"):
        repair(tmp_path / "missing.h5")


def test_without_the_reservation_a_full_disk_still_raises_and_repair_recovers(tmp_path):
    """Defence in depth: with the space reservation switched off, HDF5 itself meets the
    full disk mid-growth.  The writer still gets ArchiveFullError (not an h5py traceback);
    the file it leaves is cut short, and ``repair`` brings back every committed run and
    lets the campaign append again (a growth cut short is finished by the next append)."""
    path = tmp_path / "norsv.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO)).replace(
        "signal.signal(", "import datasets.h5file as h\nh.reserve = lambda p, n: None\n"
        "signal.signal(", 1))
    out = subprocess.run([sys.executable, str(script), str(path), "400000"],
                         capture_output=True, text=True, timeout=120)
    n = int(out.stdout.splitlines()[0])
    assert n == 128 and "runs committed are safe" in out.stdout
    result = repair(path)
    assert result.ok and result.runs == n
    _check_intact(path, n)
    with Archive.open(path, "a") as a:
        for i in range(n, n + 70):
            a.append([0.5, 0.5], {"y": float(i), "w": np.full(50, float(i))}, run_id=f"r{i}")
    _check_intact(path, n + 70)
