"""Attacks on the campaign archive, before (schema 1.0) and after (schema 1.1).

    python benchmarks/archive_attacks.py [--flips 600]

1. Full disk: a writer appends under a file-size limit (RLIMIT_FSIZE) until it fails; can the
   archive be opened with every committed run, and appended to afterwards?
2. Bit rot: flip one bit at a random position of a 100-run archive; is the change detected
   (an error), harmless (every value reads back the same) or silent (a value changed)?
3. Concurrent reader: can a second process read while a writer appends?

Schema 1.0 files are written by ``tests/datasets/legacy_archive.py`` (the 1.0 layout and
append order).  Prints a table and writes ``benchmarks/results/archive_attacks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "datasets"))

import legacy_archive  # noqa: E402
from test_archive_full_disk import WRITER  # noqa: E402  (one writer for test and benchmark)

from datasets import Archive, ArchiveError  # noqa: E402
from simulators.base import OutputSpec  # noqa: E402
from simulators.design import Parameter, ParameterSpace  # noqa: E402

SPACE = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
OUTPUTS = [OutputSpec("y"), OutputSpec("w", "", (50,))]
LIMITS = [400_000, 520_000, 640_000, 777_777, 1_000_000, 1_500_001]



def full_disk(tmp: Path, limit: int, legacy: bool) -> dict:
    path = tmp / f"full-{'old' if legacy else 'new'}-{limit}.h5"
    if legacy:
        cmd = [sys.executable, str(ROOT / "tests/datasets/legacy_archive.py"), str(path),
               str(limit)]
    else:
        script = tmp / "writer.py"
        script.write_text(WRITER.format(repo=str(ROOT)))
        cmd = [sys.executable, str(script), str(path), str(limit)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout.split()
    committed = int(out[0]) if out else -1  # both writers print the committed count first
    row = {"limit": limit, "committed": committed}
    try:
        with Archive.open(path, "a") as a:
            n = len(a)
            intact = bool(np.array_equal(a.output("y"), np.arange(n))
                          and list(a.run_ids()) == [f"r{i}" for i in range(n)])
            a.append([0.1, 0.1], {"y": -1.0})
        row.update(opens=True, runs=n, intact=intact, appendable=True)
    except ArchiveError as exc:
        row.update(opens=False, runs=0, intact=False, appendable=False,
                   error=str(exc).split(";")[0][:90])
    return row


def make_archive(path: Path, legacy: bool, n: int = 100) -> None:
    if legacy:
        f = legacy_archive.create(str(path), legacy_archive.SPACE, legacy_archive.OUTPUTS)
        for i in range(n):
            legacy_archive.append(f, i)
        f.close()
        return
    with Archive.create(path, SPACE, OUTPUTS) as a:
        for i in range(n):
            a.append([0.5, 0.5], {"y": float(i), "w": np.full(50, float(i))}, run_id=f"r{i}",
                     fidelity="0d", reason="note " * 20,
                     provenance={"simulator": "x", "version": "x", "config_hash": "x",
                                 "source_sha256": "x", "timestamp": "x", "wall_time": 1.0})


def read_everything(path: Path) -> dict:
    with Archive.open(path) as a:
        out = {"n": len(a), "inputs": a.inputs(), "status": a.status(),
               "reason": a.reasons(), "fidelity": a.fidelities(), "run_id": a.run_ids()}
        out.update({f"out/{k}": a.output(k) for k in a.output_names})
        out.update({f"prov/{k}": v for k, v in a.provenance().items()})
    return out


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape:
            return False
        if x.dtype.kind == "f":
            if not np.array_equal(x, y, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


FLIP_CHILD = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import numpy as np
from archive_attacks import read_everything, same
from datasets import ArchiveError
ref = read_everything(sys.argv[1])
for path in sys.argv[2:]:
    try:
        got = read_everything(path)
        print("harmless" if same(ref, got) else "silent", flush=True)
    except ArchiveError:
        print("detected", flush=True)
    except Exception as exc:
        print("crash:" + type(exc).__name__, flush=True)
"""


def bit_flips(tmp: Path, legacy: bool, n_flips: int, seed: int = 0) -> dict:
    ref = tmp / f"ref-{'old' if legacy else 'new'}.h5"
    make_archive(ref, legacy)
    data = ref.read_bytes()
    rng = np.random.default_rng(seed)
    positions = rng.integers(0, len(data) * 8, n_flips)
    paths = []
    for k, bit in enumerate(positions):
        buf = bytearray(data)
        buf[bit // 8] ^= 1 << (bit % 8)
        p = tmp / f"flip-{k}.h5"
        p.write_bytes(bytes(buf))
        paths.append(str(p))
    script = tmp / "flipchild.py"
    script.write_text(FLIP_CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks")))
    verdicts: list[str] = []
    todo = list(paths)
    while todo:  # in a child, 100 at a time: a flip may crash or hang HDF5
        batch = todo[:100]
        try:
            res = subprocess.run([sys.executable, str(script), str(ref), *batch],
                                 capture_output=True, text=True, timeout=120)
            got, why = res.stdout.split(), "crash"
        except subprocess.TimeoutExpired as exc:
            got, why = (exc.stdout or b"").decode().split(), "hang"
        verdicts += got
        if len(got) < len(batch):  # the next file crashed or hung the reader
            verdicts.append(why)
        todo = todo[len(got) + (len(got) < len(batch)):]
    for p in paths:
        os.unlink(p)
    counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    silent = counts.get("silent", 0)
    return {"flips": n_flips, "file_bytes": len(data), "counts": counts,
            "silent_fraction": silent / n_flips,
            "detected_fraction": counts.get("detected", 0) / n_flips,
            "changed_detected_fraction": counts.get("detected", 0)
            / max(counts.get("detected", 0) + silent, 1)}


READER_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from datasets import Archive, ArchiveError
ok = fail = 0
t0 = time.time()
while time.time() - t0 < 2.0:
    try:
        with Archive.open(sys.argv[1]) as a:
            a.output("y"); ok += 1
    except ArchiveError:
        fail += 1
    time.sleep(0.02)
print(ok, fail)
"""


def concurrent_reader(tmp: Path, legacy: bool) -> dict:
    path = tmp / f"live-{'old' if legacy else 'new'}.h5"
    make_archive(path, legacy, n=10)
    if legacy:  # the 1.0 writer kept the file open with HDF5's lock
        import h5py

        f = h5py.File(path, "a")
    else:
        f = Archive.open(path, "a")
    script = tmp / "reader.py"
    script.write_text(READER_CHILD.format(root=str(ROOT)))
    res = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                         text=True, timeout=60)
    f.close()
    ok, fail = map(int, res.stdout.split())
    return {"reads_ok": ok, "reads_refused": fail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flips", type=int, default=600)
    args = parser.parse_args()
    results: dict = {"full_disk": {}, "bit_flips": {}, "concurrent_reader": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for legacy, label in ((True, "before"), (False, "after")):
            t0 = time.time()
            results["full_disk"][label] = [full_disk(tmp, lim, legacy) for lim in LIMITS]
            results["bit_flips"][label] = bit_flips(tmp, legacy, args.flips)
            results["concurrent_reader"][label] = concurrent_reader(tmp, legacy)
            print(f"{label}: {time.time() - t0:.0f} s", file=sys.stderr)
            for p in tmp.glob("*.h5*"):
                p.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
    print("full disk (RLIMIT_FSIZE)   before (1.0)                      after (1.1)")
    for b, a in zip(results["full_disk"]["before"], results["full_disk"]["after"],
                    strict=True):
        def cell(r):
            if not r["opens"]:
                return f"unreadable ({r['committed']} committed lost)"
            return (f"{r['runs']} runs {'intact' if r['intact'] else 'DAMAGED'}, "
                    f"{'appendable' if r['appendable'] else 'NOT appendable'}")
        print(f"  limit {b['limit']:>9} B      {cell(b):<33} {cell(a)}")
    for label in ("before", "after"):
        r = results["bit_flips"][label]
        print(f"bit flips {label:<6}: {r['flips']} flips in {r['file_bytes']} B: {r['counts']}; "
              f"silent {100 * r['silent_fraction']:.1f}%, changes detected "
              f"{100 * r['changed_detected_fraction']:.1f}%")
    for label in ("before", "after"):
        r = results["concurrent_reader"][label]
        print(f"concurrent reader {label:<6}: {r['reads_ok']} reads ok, "
              f"{r['reads_refused']} refused")
    out = ROOT / "benchmarks" / "results" / "archive_attacks.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
