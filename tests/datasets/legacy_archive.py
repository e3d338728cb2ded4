"""A campaign archive written the way schema 1.0 wrote it (twinemu before checksums), to
check that old archives stay readable and that ``repair`` brings damaged ones back.

``python legacy_archive.py PATH LIMIT`` appends runs the 1.0 way under a file-size limit of
LIMIT bytes until the disk is "full" (the attack that left 1.0 archives truncated).
"""

import json
import resource
import signal
import sys

import h5py
import numpy as np

STR = {"reason": 1024, "fidelity": 32, "run_id": 128, "simulator": 128, "version": 64,
       "config_hash": 64, "source_sha256": 64, "timestamp": 32}
PROV = ("simulator", "version", "config_hash", "source_sha256", "timestamp")
SPACE = {"parameters": [{"name": "a", "low": 0.0, "high": 1.0},
                        {"name": "b", "low": 0.0, "high": 1.0}]}
OUTPUTS = [{"name": "y", "unit": "", "shape": []}, {"name": "w", "unit": "", "shape": [50]}]


def create(path: str, space: dict, outputs: list[dict]) -> h5py.File:
    """The schema 1.0 layout: default HDF5 format, 64-row chunks, no checksums."""
    f = h5py.File(path, "w")
    f.attrs["schema_version"] = "1.0"
    f.create_dataset("committed", data=np.int64(0))
    meta = f.create_group("meta")
    meta.attrs["space"] = json.dumps(space)
    meta.attrs["outputs"] = json.dumps(outputs)
    meta.attrs["description"] = ""
    meta.attrs["extra"] = "{}"
    d = len(space["parameters"])
    f.create_dataset("inputs", (0, d), float, maxshape=(None, d), chunks=(64, d))
    f.create_group("outputs")
    for o in outputs:
        shape = tuple(o["shape"])
        f["outputs"].create_dataset(o["name"], (0, *shape), float, maxshape=(None, *shape),
                                    chunks=(64, *shape), fillvalue=np.nan)
    f.create_dataset("status", (0,), np.int8, maxshape=(None,), chunks=(256,))
    for name in ("reason", "fidelity", "run_id"):
        f.create_dataset(name, (0,), h5py.string_dtype("utf-8", STR[name]), maxshape=(None,),
                         chunks=(64,))
    prov = f.create_group("provenance")
    for name in PROV:
        prov.create_dataset(name, (0,), h5py.string_dtype("utf-8", STR[name]),
                            maxshape=(None,), chunks=(64,))
    prov.create_dataset("wall_time", (0,), float, maxshape=(None,), chunks=(256,))
    f.flush()
    return f


def append(f: h5py.File, i: int) -> None:
    """Append run ``i`` (y = i, w = i everywhere) the 1.0 way: row, flush, commit, flush."""
    cols = [f["inputs"], *(f["outputs"][o["name"]] for o in OUTPUTS), f["status"],
            f["reason"], f["fidelity"], f["run_id"],
            *(f["provenance"][k] for k in (*PROV, "wall_time"))]
    if f["inputs"].shape[0] <= i:
        for ds in cols:
            ds.resize(i + 64, axis=0)
    f["inputs"][i] = [0.5, 0.5]
    f["outputs"]["y"][i] = float(i)
    f["outputs"]["w"][i] = np.full(50, float(i))
    f["status"][i] = 0
    f["reason"][i] = b"note " * 20
    f["fidelity"][i] = b"0d"
    f["run_id"][i] = f"r{i}".encode()
    for k in PROV:
        f["provenance"][k][i] = b"x"
    f["provenance"]["wall_time"][i] = 1.0
    f.flush()
    f["committed"][()] = i + 1
    f.flush()


def fill_until_full(path: str, limit: int) -> int:
    """Append until the file-size limit stops the writer; return the committed count."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    f = create(path, SPACE, OUTPUTS)
    i = 0
    try:
        while True:
            append(f, i)
            i += 1
    except (OSError, RuntimeError):  # h5py reports a failed flush as RuntimeError
        return i


if __name__ == "__main__":
    import os

    print(fill_until_full(sys.argv[1], int(sys.argv[2])), flush=True)
    os._exit(0)  # no clean close (closing would retry the failed writes)
