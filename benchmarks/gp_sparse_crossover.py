"""Where the sparse GP should take over: our exact vs our sparse GP for n ≈ 1,000–6,000.

Same smooth 20-input function as ``benchmarks/gp_scale.py`` (one output) and the 8-input
borehole function, one BLAS thread (``GaussianProcess(threads=1)``) on a shared 2-core
machine, exact and sparse fits of the same data interleaved.  Held-out R², 95% coverage
and fit time (wall and CPU); ratios sparse ÷ exact.  The threshold ``SPARSE_ABOVE`` in
:mod:`emulators.gp.emulator` is set from this table.  Writes
``benchmarks/results/gp_sparse_crossover.json``.

    python benchmarks/gp_sparse_crossover.py [--sizes 1000,2000,3000,4500,6000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gp_scale import scores, smooth20, timed  # noqa: E402


def borehole(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Borehole water flow (m³/yr), 8 inputs scaled from [0, 1]^8 (Morris et al. 1993)."""
    U = np.random.default_rng(seed).random((n, 8))
    lo = np.array([0.05, 100, 63070, 990, 63.1, 700, 1120, 9855])
    hi = np.array([0.15, 50000, 115600, 1110, 116, 820, 1680, 12045])
    rw, r, Tu, Hu, Tl, Hl, L, Kw = (lo + U * (hi - lo)).T
    lr = np.log(r / rw)
    y = 2 * np.pi * Tu * (Hu - Hl) / (lr * (1 + 2 * L * Tu / (lr * rw**2 * Kw) + Tu / Tl))
    return U, y[:, None]


def fit_one(X, Y, Xt, Yt, sparse: bool) -> dict:
    from emulators import GaussianProcess
    from simulators.design import Parameter, ParameterSpace

    space = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(X.shape[1])])
    gp, wall, cpu = timed(lambda: GaussianProcess(seed=0, sparse=sparse, lowrank_tol=None,
                                                  threads=1).fit(X, Y, space=space))
    mean, var = gp.predict(Xt)
    return {**scores(Y, Yt, mean, var), "fit_s": wall, "fit_cpu_s": cpu}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,3000,4500,6000")
    ap.add_argument("--functions", default="smooth20,borehole")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for fn in args.functions.split(","):
        for n in [int(s) for s in args.sizes.split(",")]:
            if fn == "borehole":
                (X, Y), (Xt, Yt) = borehole(n, 0), borehole(2000, 1)
            else:
                (X, Y), (Xt, Yt) = smooth20(n, 1, seed=0), smooth20(2000, 1, seed=1)
            res = {}
            for sparse in (False, True):  # interleaved: same load on both
                res["sparse" if sparse else "exact"] = fit_one(X, Y, Xt, Yt, sparse)
                print(f"{fn} n={n} {'sparse' if sparse else 'exact'}: "
                      f"{res['sparse' if sparse else 'exact']}", flush=True)
            rows.append({"function": fn, "n": n, "results": res})
    print_table(rows)
    out = Path(__file__).parent / "results" / "gp_sparse_crossover.json"
    out.write_text(json.dumps({"note": "1 BLAS thread, shared 2-core machine; lowrank "
                               "variance factor off in both (measured separately)",
                               "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


def print_table(rows) -> None:
    hdr = (f"{'function':<9} {'n':>5} {'method':<7} {'R²':>8} {'cov95':>6} {'MSLL':>6} "
           f"{'fit s':>7} {'cpu s':>7} {'cpu ÷ exact':>11}")
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        ex = row["results"]["exact"]
        for name, r in row["results"].items():
            print(f"{row['function']:<9} {row['n']:>5} {name:<7} {r['r2']:8.5f} "
                  f"{r['coverage']:6.3f} {r['msll']:6.2f} {r['fit_s']:7.1f} "
                  f"{r['fit_cpu_s']:7.1f} {r['fit_cpu_s'] / ex['fit_cpu_s']:11.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
