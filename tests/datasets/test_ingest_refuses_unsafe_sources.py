"""Ingest opens only what it should: paths inside the manifest's folder or a data root,
regular files only, no file content in any message, non-finite geometry never an ok run.

Each test is one finding of an adversarial test of ``twinemu ingest``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from datasets.archive import Archive
from datasets.errors import SourcePathError
from datasets.ingest import ingest
from emulators.cli import main as cli_main
from tests.datasets.adapters import fixtures as fx
from tests.datasets.test_ingest import PARAMS, QOIS, L, R

SECRET = "TOPSECRET-password=hunter2"


def _manifest(folder: Path, runs: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump({"parameters": PARAMS, "qois": QOIS, "runs": runs}))
    return path


def _run(rid: str, source) -> dict:
    return {"id": rid, "inputs": {"scale": 1.0}, "source": source}


def _nothing_leaks(*texts: str) -> None:
    for text in texts:
        assert "TOPSECRET" not in text and "hunter2" not in text


def test_a_path_escaping_the_manifest_folder_is_refused_without_reading_it(tmp_path, capsys):
    (tmp_path / "secret.txt").write_text(SECRET + "\nmore\n")
    man = _manifest(tmp_path / "m", [_run("a", "../secret.txt")])
    with pytest.raises(SourcePathError, match=r"'\.\./secret\.txt' resolves outside") as err:
        ingest(man, tmp_path / "a.h5", workers=1, progress=False)
    _nothing_leaks(str(err.value))
    assert not (tmp_path / "a.h5").exists()  # refused before anything was opened
    man = _manifest(tmp_path / "abs", [_run("a", str(tmp_path / "secret.txt"))])
    with pytest.raises(SourcePathError, match="resolves outside"):
        ingest(man, tmp_path / "a.h5", workers=1, progress=False)
    # a link inside the folder that points out of it is refused too
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "data.h5").symlink_to(tmp_path / "secret.txt")
    man = _manifest(tmp_path / "link", [_run("a", "data.h5")])
    with pytest.raises(SourcePathError, match="resolves outside"):
        ingest(man, tmp_path / "a.h5", workers=1, progress=False)
    # the command line says so in one line, exit 1, the content nowhere
    man = _manifest(tmp_path / "m", [_run("a", "../secret.txt")])
    assert cli_main(["ingest", str(man), "--archive", str(tmp_path / "a.h5"),
                     "--no-progress"]) == 1
    out = capsys.readouterr()
    assert "SourcePathError" in out.err
    _nothing_leaks(out.out, out.err)


def test_a_text_file_inside_a_data_root_fails_its_run_without_quoting_it(tmp_path, capsys):
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    man = _manifest(tmp_path / "m", [_run("a", "../secret.txt")])
    summary = ingest(man, tmp_path / "a.h5", workers=1, progress=False, data_root=tmp_path)
    assert (summary.ok, summary.failed) == (0, 1)
    reason = summary.reasons["a"]
    assert reason.startswith("UnsupportedFormat") and "a text file of 27 bytes" in reason
    print(summary)
    with Archive.open(tmp_path / "a.h5") as ar:
        stored = "".join(map(str, ar.reasons()))
    _nothing_leaks(reason, stored, capsys.readouterr().out)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_fifo_or_a_device_is_refused_in_bounded_time(tmp_path, workers):
    folder = tmp_path / "m"
    folder.mkdir()
    os.mkfifo(folder / "pipe.h5")  # opening it would block until a writer comes
    man = _manifest(folder, [_run("fifo", "pipe.h5"), _run("zero", "/dev/zero"),
                             _run("dir", ".")])
    with pytest.raises(SourcePathError, match="'/dev/zero' resolves outside"):
        ingest(man, tmp_path / "a.h5", workers=workers, progress=False)
    t0 = time.monotonic()
    summary = ingest(man, tmp_path / "a.h5", workers=workers, progress=False,
                     data_root="/dev", timeout=20)
    assert time.monotonic() - t0 < 20  # none was opened, hashed or waited on
    assert (summary.ok, summary.failed) == (0, 3)
    r = summary.reasons
    assert r["fifo"].startswith("SourcePathError") and "is a FIFO, not a regular file" in r[
        "fifo"]
    assert "'/dev/zero' is a device, not a regular file" in r["zero"]
    assert "is a folder, not a regular file" in r["dir"]


def test_nan_mesh_coordinates_fail_the_run_with_the_reason(tmp_path):
    pts, tets = fx.cylinder(R, L, nr=4, nth=16, nz=3)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    u = np.stack([fx.poiseuille(pts, R, 1.0)] * 4)
    p = np.stack([2.0 - 0.5 * pts[:, 2:3]] * 4)
    bad = pts.copy()
    bad[5, 1] = np.nan
    runs = []
    for rid, coords in (("good", pts), ("nan_coords", bad)):
        files = fx.write_fenics(tmp_path / rid, coords, tets, {"u": u, "p": p}, [1, 2, 3, 4],
                                facets=(tris, tags))
        runs.append(_run(rid, {n: str(v.relative_to(tmp_path)) for n, v in files.items()}))
    summary = ingest(_manifest(tmp_path, runs), tmp_path / "a.h5", workers=1,
                     progress=False)
    assert (summary.ok, summary.failed) == (1, 1), str(summary)
    reason = summary.reasons["nan_coords"]
    assert reason.startswith("QoIError") and "mesh coordinates" in reason
    assert "1 non-finite points" in reason
    with Archive.open(tmp_path / "a.h5") as ar:
        ids = list(ar.run_ids())
        assert ar.status()[ids.index("nan_coords")] != 0
        assert np.isnan(ar.output("Q_tag2_mean")[ids.index("nan_coords")])
        assert ar.output("Q_tag2_mean")[ids.index("good")] == pytest.approx(np.pi, rel=0.08)


def _reader_that_hangs(entry, *args):
    """A reader stuck on one run (a file system that stops answering)."""
    if entry["id"] == "hang":
        time.sleep(3600)
    from datasets.ingest import process_run

    return process_run(entry, *args)


def test_a_run_past_the_time_limit_fails_and_the_others_go_on(tmp_path, monkeypatch):
    import datasets.ingest as ingest_module

    pts, tets = fx.cylinder(R, L, nr=4, nth=16, nz=3)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    u = np.stack([fx.poiseuille(pts, R, 1.0)] * 4)
    p = np.stack([2.0 - 0.5 * pts[:, 2:3]] * 4)
    files = fx.write_fenics(tmp_path / "run", pts, tets, {"u": u, "p": p}, [1, 2, 3, 4],
                            facets=(tris, tags))
    src = {n: str(v.relative_to(tmp_path)) for n, v in files.items()}
    man = _manifest(tmp_path, [_run("a", src), _run("hang", src), _run("b", src)])
    monkeypatch.setattr(ingest_module, "process_run", _reader_that_hangs)
    summary = ingest(man, tmp_path / "a.h5", workers=2, progress=False, timeout=2)
    assert (summary.ok, summary.failed) == (2, 1), str(summary)
    assert summary.reasons["hang"].startswith("timed out after 2 s")
    with Archive.open(tmp_path / "a.h5") as ar:
        assert sorted(ar.run_ids()) == ["a", "b", "hang"]
