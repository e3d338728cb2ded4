"""GP or deep ensemble? Both on the same campaigns as the number of runs grows.

The borehole function (8 inputs; Harper & Gupta 1983) stands in for a smooth simulator
response.  For each training size n, the exact ``GaussianProcess`` (while its O(n³) fit is
affordable on 2 cores) and the ``NeuralEnsemble`` are fitted on the same LHS design and
scored on the same 2,000 random held-out points: R², 95% coverage, fit time, and the
single-query latency of the exported file in the numpy runtime.  Where the lines cross is
the README's advice.

Prints a table (ratios GP ÷ ensemble for times, ensemble ÷ GP for 1 − R²) and writes
``benchmarks/results/neural_vs_gp.json``.  Run: ``python benchmarks/neural_vs_gp.py``
(``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emulators import GaussianProcess, NeuralEnsemble, runtime
from simulators.design import Parameter, ParameterSpace

OUT = Path(__file__).resolve().parent / "results" / "neural_vs_gp.json"
torch.set_num_threads(1)

SPACE = ParameterSpace([
    Parameter("rw", 0.05, 0.15), Parameter("r", 100, 50000), Parameter("Tu", 63070, 115600),
    Parameter("Hu", 990, 1110), Parameter("Tl", 63.1, 116), Parameter("Hl", 700, 820),
    Parameter("L", 1120, 1680), Parameter("Kw", 9855, 12045)])


def borehole(X: np.ndarray) -> np.ndarray:
    """Water flow through a borehole, m³/yr."""
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    lr = np.log(r / rw)
    return 2 * np.pi * Tu * (Hu - Hl) / (lr * (1 + 2 * L * Tu / (lr * rw**2 * Kw) + Tu / Tl))


def score(emu, Xt, yt, tmp: Path, name: str) -> dict[str, float]:
    mean, var = emu.predict(Xt)
    path = emu.export(tmp / f"{name}.safetensors")
    rt = runtime.load(path)
    x1 = Xt[:1]
    for _ in range(20):
        rt.predict(x1)
    t = time.perf_counter()
    reps = 200
    for _ in range(reps):
        rt.predict(x1)
    return {"r2": float(1 - np.mean((mean - yt) ** 2) / np.var(yt)),
            "coverage95": float(np.mean(np.abs(mean - yt) <= 1.959964 * np.sqrt(var))),
            "query_us": 1e6 * (time.perf_counter() - t) / reps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = ap.parse_args()
    sizes = [100, 300] if args.quick else [200, 1000, 3000, 10000]
    gp_max = 300 if args.quick else 1000
    Xt = SPACE.sample(2000, method="random", seed=99)
    yt = borehole(Xt)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in sizes:
            X = SPACE.sample(n, method="lhs", seed=n)
            y = borehole(X)
            row: dict = {"n": n}
            if n <= gp_max:
                t = time.perf_counter()
                gp = GaussianProcess(restarts=2, seed=0).fit(X, y, space=SPACE)
                row["gp"] = {"fit_s": time.perf_counter() - t, **score(gp, Xt, yt, tmp, "gp")}
            t = time.perf_counter()
            nn = NeuralEnsemble(members=5, hidden=(64, 64), epochs=150 if args.quick else 600,
                                patience=60, seed=0).fit(X, y, space=SPACE)
            row["ensemble"] = {"fit_s": time.perf_counter() - t,
                               **score(nn, Xt, yt, tmp, "nn")}
            rows.append(row)
            print(json.dumps(row), flush=True)
    head = (f"{'n':>6} | {'GP R²':>8} {'cov':>5} {'fit s':>7} {'query µs':>9} | "
            f"{'ens R²':>8} {'cov':>5} {'fit s':>7} {'query µs':>9} | fit GP÷ens  1−R² ens÷GP")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        g, e = r.get("gp"), r["ensemble"]
        gs = (f"{g['r2']:8.5f} {g['coverage95']:5.2f} {g['fit_s']:7.1f} {g['query_us']:9.0f}"
              if g else f"{'(exact GP not run: O(n³) fit)':>32}")
        ratio = (f"{g['fit_s'] / e['fit_s']:10.2f}  {(1 - e['r2']) / max(1 - g['r2'], 1e-12):10.2f}"
                 if g else "")
        print(f"{r['n']:>6} | {gs} | {e['r2']:8.5f} {e['coverage95']:5.2f} "
              f"{e['fit_s']:7.1f} {e['query_us']:9.0f} | {ratio}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"machine": platform.platform(), "torch_threads": 1,
                               "quick": args.quick, "rows": rows}, indent=2))
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
