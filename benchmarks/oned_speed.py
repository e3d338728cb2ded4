"""Speed of the 1D solver (simulators.oned): time per cardiac cycle and cell updates per second.

Single core (Numba kernels are serial).  Cases at the benchmark resolution (the shipped
networks: 1 mm cells, openBF's ``M`` for ADAN56 and the 37-artery network), CFL 0.9.  Each
case runs a fixed number of cycles after a warm-up call that compiles (or loads) the kernels.
Also: runs per hour of a 64-member batch of the 37-artery network (``OneDSimulator.run_batch``
with the ``conf/simulator/oned_37artery.yaml`` settings, each member run to its periodic state).

Reference figures: the published Numba port of openBF takes ≈ 270 s per cardiac cycle for
ADAN56 (published, from another machine, for the model with uniform E; goal here: ≤ 10 s,
~30× faster); for the common carotid, a whole-vessel vectorised NumPy implementation of the
same scheme (``oned_numpy_reference.py``, checked to give the same state to round-off) is
timed on the same machine.

    python benchmarks/oned_speed.py [--batch 64] [--threads 1,2] [--skip-batch]

Prints a table and writes ``benchmarks/results/oned_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from oned_numpy_reference import check as numpy_check  # noqa: E402
from oned_numpy_reference import run_cycles as numpy_cycles  # noqa: E402

from simulators.oned import OneDSimulator, load_network, simulate  # noqa: E402

NETWORKS = ROOT / "conf" / "simulator" / "networks"
OPENBF_NUMBA_ADAN56 = 270.0  # s per cycle, published Numba port of openBF
OPENBF_NOTE = ("published figure (not measured here): openBF's Numba port, on the authors' "
               "machine, for ADAN56 with uniform E; our ADAN56 is the openBF variant "
               "(uniform E = 225 kPa), so the ratio compares different machines and is "
               "indicative only")
CASES = [("common carotid", "boileau_cca.yaml", 10),
         ("aortic bifurcation", "boileau_ibif.yaml", 10),
         ("37-artery", "matthys2007_37artery.yaml", 3),
         ("ADAN56", "adan56.yaml", 3)]


def time_case(label: str, fname: str, cycles: int) -> dict:
    net = load_network(NETWORKS / fname)
    simulate(net, max_cycles=1, min_cycles=1)                  # compile / load cache
    t0 = time.perf_counter()
    sol = simulate(net, max_cycles=cycles, min_cycles=cycles)
    wall = time.perf_counter() - t0
    d = sol.diagnostics
    per_cycle = wall / sol.cycles
    numpy_s = numpy_diff = None
    if label == "common carotid":
        numpy_diff = numpy_check(net, 1)
        numpy_s = numpy_cycles(net, 2)[2] / 2
    return {"case": label, "network": fname, "vessels": len(net.vessels), "cells": d["cells"],
            "steps_per_cycle": d["steps_per_cycle"], "cycles_timed": sol.cycles,
            "s_per_cycle": per_cycle, "cell_updates_per_s": d["cell_updates"] / wall,
            "openbf_numba_ratio": (OPENBF_NUMBA_ADAN56 / per_cycle if label == "ADAN56"
                                   else None),
            "numpy_s_per_cycle": numpy_s,
            "numpy_ratio": numpy_s / per_cycle if numpy_s else None,
            "numpy_max_rel_diff": numpy_diff}


def time_batch(n: int, threads: int = 1) -> dict:
    sim = OneDSimulator("simulator/networks/matthys2007_37artery.yaml",
                        **{**_experiment_settings(), "threads": threads})
    points = sim.space.points(sim.space.sample(n, seed=0))
    sim.run_batch(points[:1])                                   # compile / load cache
    t0 = time.perf_counter()
    out = sim.run_batch(points)
    wall = time.perf_counter() - t0
    failed = sum(isinstance(o, Exception) for o in out)
    return {"members": n, "threads": threads, "wall_s": wall,
            "runs_per_hour": n / wall * 3600.0,
            "failed": failed, "refine": sim.refine,
            "cells": int(sum(sim.base.cells(v) for v in sim.base.vessels))}


def _experiment_settings() -> dict:
    import yaml

    cfg = yaml.safe_load((ROOT / "conf/simulator/oned_37artery.yaml").read_text())
    cfg.pop("_target_")
    cfg.pop("network")
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64, help="members of the 37-artery batch")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--threads", default="1,2",
                    help="comma-separated Numba thread counts for the batch (1 = one core)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/oned_speed.json")
    args = ap.parse_args()
    rows = [time_case(*c) for c in CASES]
    print(f"{'case':<20}{'vessels':>8}{'cells':>8}{'steps/cycle':>12}{'s/cycle':>10}"
          f"{'cell-upd/s':>12}{'vs openBF-Numba':>17}{'vs NumPy':>10}")
    for r in rows:
        ratio = f"{r['openbf_numba_ratio']:.0f}x" if r["openbf_numba_ratio"] else "-"
        nratio = f"{r['numpy_ratio']:.0f}x" if r["numpy_ratio"] else "-"
        print(f"{r['case']:<20}{r['vessels']:>8}{r['cells']:>8}{r['steps_per_cycle']:>12}"
              f"{r['s_per_cycle']:>10.3f}{r['cell_updates_per_s']:>12.3g}{ratio:>17}"
              f"{nratio:>10}")
    cca = rows[0]
    print(f"NumPy reference (common carotid): {cca['numpy_s_per_cycle']:.3f} s/cycle, same "
          f"state to {cca['numpy_max_rel_diff']:.1e} (relative)")
    batch = []
    if not args.skip_batch:
        for th in (int(x) for x in args.threads.split(",")):
            b = time_batch(args.batch, th)
            batch.append(b)
            print(f"37-artery batch of {b['members']} (refine {b['refine']}, {b['cells']} "
                  f"cells, to the periodic state), {th} thread(s): {b['wall_s']:.1f} s, "
                  f"{b['runs_per_hour']:.0f} runs/hour, {b['failed']} failed")
    result = {"benchmark": "oned_speed", "rows": rows, "batch_37artery": batch,
              "machine": {"python": platform.python_version(), "numpy": np.__version__,
                          "numba": numba.__version__, "processor": platform.processor(),
                          "cpu_count": os.cpu_count()},
              "reference": {"openbf_numba_adan56_s_per_cycle": OPENBF_NUMBA_ADAN56,
                            "note": OPENBF_NOTE}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
