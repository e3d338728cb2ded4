"""Many correlated outputs: per-output GPs vs scalar PCA vs one shared kernel (issue 14).

Data: ``m`` scalar outputs of a smooth 20-input function on [0, 1]^20, each a linear
mixture of 4 latent functions (decaying additive sines with interactions) plus a small
independent part of its own (5% of the mixture's spread), as pressures and flows of one
simulator are.  On the same data and machine, in the same run:

- ``per-output``: :class:`emulators.GaussianProcess` defaults, one fit per output;
- ``pca``: ``pca_scalars=0.999``: the outputs reduced together to the principal
  components explaining 99.9% of their standardised variance, one fit per component;
- ``shared``: ``share_kernel=True``: one kernel correlation fitted to all outputs (one
  Cholesky per likelihood evaluation), signal variance and mean profiled per output;
- ``pca+shared``: both;
- ``shared+own``: the shared fit, then each output's own hyperparameters refined from it
  for at most 30 iterations (``shared_refine=30``).

Held-out R² (mean and worst output) and pooled 95% coverage on 1,000 random points; fit
time (wall and CPU: the machine may be shared, CPU time is the steadier measure); the
ratios of the per-output fit's wall and CPU times to each method's.  Prints a
table and writes ``benchmarks/results/gp_many_outputs.json``.

    OMP_NUM_THREADS=1 python benchmarks/gp_many_outputs.py [--grid smoke|default]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

D = 20
LATENT = 4
GRIDS = {"smoke": [(150, 10)], "default": [(300, 30), (600, 50)]}
METHODS = {
    "per-output": {},
    "pca": {"pca_scalars": 0.999},
    "shared": {"share_kernel": True},
    "pca+shared": {"pca_scalars": 0.999, "share_kernel": True},
    "shared+own": {"share_kernel": True, "shared_refine": 30},
}
N_TEST = 1000


def _smooth(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` smooth functions of ``X (n, d)``: decaying additive sines plus neighbour
    interactions (fixed coefficients from ``seed``): ``(n, k)``."""
    c = np.random.default_rng(seed)
    d = X.shape[1]
    a = c.normal(size=(k, d)) * (0.7 ** np.arange(d))[None, :]
    b = c.uniform(0, 2 * np.pi, size=(k, d))
    w = c.normal(size=(k, d - 1)) * 0.3
    out = np.empty((len(X), k))
    for j in range(k):
        out[:, j] = (np.sin(2.5 * X + b[j]) @ a[j]
                     + (X[:, :-1] * X[:, 1:]) @ w[j])
    return out


def many_outputs(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``X (n, 20)`` uniform and ``Y (n, m)``: mixtures of 4 latent functions plus 5%
    independent parts, on scales from 1e-6 to 1e4 (fixed mixing, any ``seed`` for X)."""
    X = np.random.default_rng(seed).random((n, D))
    c = np.random.default_rng(777)
    M = c.normal(size=(LATENT, m))
    F = _smooth(X, LATENT, 11) @ M
    own = _smooth(X, m, 12)
    spread_f = (_smooth(c.random((2000, D)), LATENT, 11) @ M).std(axis=0)
    spread_o = _smooth(c.random((2000, D)), m, 12).std(axis=0)
    Y = F + 0.05 * own * (spread_f / spread_o)
    scale = 10.0 ** c.uniform(-6, 4, m)
    return X, Y * scale + c.normal(size=m) * scale


def run_one(kwargs: dict, X, Y, Xt, Yt, space) -> dict:
    from emulators import GaussianProcess

    gp = GaussianProcess(**kwargs)
    w0, c0 = time.perf_counter(), time.process_time()
    gp.fit(X, Y, space=space)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    mu, var = gp.predict(Xt)
    r2 = 1 - np.mean((Yt - mu) ** 2, axis=0) / Yt.var(axis=0)
    cover = float(np.mean(np.abs(Yt - mu) <= 1.959964 * np.sqrt(var)))
    statuses = [r.status for r in gp.fit_reports]
    return {"fit_wall_s": wall, "fit_cpu_s": cpu, "latent": gp.outputs.n_latent,
            "r2_mean": float(r2.mean()), "r2_min": float(r2.min()), "coverage95": cover,
            "converged": statuses.count("converged"), "n_fits": len(statuses)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=sorted(GRIDS), default="default")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "gp_many_outputs.json"))
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_info

    from simulators.design import Parameter, ParameterSpace

    space = ParameterSpace([Parameter(f"x{i}", 0.0, 1.0) for i in range(D)])
    rows = []
    for n, m in GRIDS[args.grid]:
        X, Y = many_outputs(n, m, seed=1)
        Xt, Yt = many_outputs(N_TEST, m, seed=2)
        base = None
        for name, kw in METHODS.items():
            r = run_one(kw, X, Y, Xt, Yt, space)
            base = base or r
            r.update(n=n, m=m, method=name, options=kw,
                     speedup=base["fit_wall_s"] / r["fit_wall_s"],
                     speedup_cpu=base["fit_cpu_s"] / r["fit_cpu_s"],
                     r2_mean_change=r["r2_mean"] - base["r2_mean"])
            rows.append(r)
            print(f"  n={n} m={m} {name}: {r['fit_wall_s']:.1f} s", flush=True)
    head = (f"{'n':>5} {'m':>3} {'method':<11} {'latent':>6} {'fit s':>8} {'cpu s':>8} "
            f"{'speed-up':>8} {'cpu ×':>6} {'R2 mean':>8} {'R2 min':>8} {'ΔR2 mean':>9} "
            f"{'cov95':>6} {'conv':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n']:>5} {r['m']:>3} {r['method']:<11} {r['latent']:>6} "
              f"{r['fit_wall_s']:>8.2f} {r['fit_cpu_s']:>8.2f} {r['speedup']:>7.1f}× "
              f"{r['speedup_cpu']:>5.1f}× "
              f"{r['r2_mean']:>8.4f} {r['r2_min']:>8.4f} {r['r2_mean_change']:>+9.4f} "
              f"{r['coverage95']:>6.3f} {r['converged']:>3}/{r['n_fits']:<2}")
    out = {"benchmark": "gp_many_outputs", "grid": args.grid, "d": D, "latent_functions":
           LATENT, "independent_part": 0.05, "n_test": N_TEST,
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                       "blas": [{k: i.get(k) for k in ("internal_api", "num_threads")}
                                for i in threadpool_info()]},
           "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
