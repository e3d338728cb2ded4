"""A stand-in for an external solver: reads ``key: value`` lines, writes results.

    python standin_solver.py INPUT FORMAT        FORMAT: json | csv | hdf5

``mode`` in the input picks a behaviour: ``ok``, ``fail`` (exit 3 with a message on
stderr), ``hang`` (sleeps 60 s), ``garbage`` (an unparsable output file).
Results: the Windkessel-like ``p_mean = Q R`` and a 5-point waveform ``Q R (1 + 0.1 k)``.
"""

import json
import sys
import time

values = {}
for line in open(sys.argv[1]):
    if ":" in line:
        k, v = line.split(":", 1)
        values[k.strip()] = v.strip()
mode = values.get("mode", "ok")
R, Q = float(values["R"]), float(values["Q"])
fmt = sys.argv[2]
if mode == "fail":
    print("reading mesh... done", file=sys.stderr)
    print("ERROR: negative area in vessel 3 at t=0.41 s", file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(60)
p = Q * R
wave = [p * (1 + 0.1 * k) for k in range(5)]
if mode == "garbage":
    open("result." + ("h5" if fmt == "hdf5" else fmt), "w").write("not {a result")
elif fmt == "json":
    json.dump({"pressure": {"mean": p, "wave": wave}}, open("result.json", "w"))
elif fmt == "csv":
    with open("result.csv", "w") as f:
        f.write("p_mean,p_max\n" + f"{p},{max(wave)}\n")
elif fmt == "hdf5":
    import h5py

    with h5py.File("result.h5", "w") as f:
        f["pressure/mean"] = p
        f["pressure/wave"] = wave
