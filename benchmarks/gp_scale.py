"""Gaussian processes at study scale: twinemu vs scikit-learn vs gpytorch.

For each ``(n runs, m outputs)`` of a smooth 20-input test function on [0, 1]^20:

- ``twinemu``: :class:`emulators.GaussianProcess` (per-output fits on a maximin subset,
  refined on all runs; sparse above ``sparse_above`` runs), predictions from its exported
  file through the numpy runtime;
- ``sklearn``: ``GaussianProcessRegressor`` (ARD Matérn-5/2 × constant + white noise,
  ``normalize_y``, 2 random restarts), one per output;
- ``gpytorch-exact``: gpytorch's simple-regression tutorial exact GP (ARD Matérn-5/2,
  Adam lr 0.1, 50 iterations), one per output;
- ``gpytorch-sgpr``: gpytorch's ``InducingPointKernel`` (the SGPR tutorial: 256 inducing
  points, Adam lr 0.1, 50 iterations), one per output.

Held-out R², 95% coverage and MSLL (R&W 2006 eq. 2.34, against the training mean and
variance) on 2,000 random points; fit time (wall and CPU); single-query and 10k-batch
predict time.  Everyone runs with one BLAS/OpenMP thread (threadpoolctl and
``torch.set_num_threads(1)``); within each ``(n, m)`` the methods are fitted in an order
rotated from row to row and the single queries are timed in interleaved rounds, so the
load of the (shared, 2-core) machine falls on all methods alike.  sklearn and the exact
gpytorch GP are skipped where they would take too long on 2 cores (sklearn above 500
runs, exact gpytorch above 2,000: said so in the table), and only the first output is
fitted by the peers when ``m > 1`` (their times are scaled to ``m``: the ``*`` in the
table; R² and coverage are then of that output, ours of all ``m``).  Prints a table with
ratios peer ÷ twinemu and writes ``benchmarks/results/gp_scale.json``.

    python benchmarks/gp_scale.py [--grid study|quick|smoke] [--baseline FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

D = 20
GRIDS = {
    "smoke": [(150, 2)],
    "quick": [(200, 1), (200, 60), (1000, 10), (20000, 1)],
    "full": [(200, 1), (200, 60), (500, 26), (1000, 10), (2000, 4), (5000, 4), (20000, 4)],
    "study": [(200, 1), (200, 10), (200, 60), (1000, 1), (1000, 10), (3000, 1), (20000, 1)],
}
METHODS = ("twinemu", "sklearn", "gpytorch-exact", "gpytorch-sgpr")
PEER_OUTPUTS = 1
#: Largest n given to sklearn (its gradient holds an (n, n, d) array: ~100 s CPU per
#: output at n = 1,000, d = 20) and to gpytorch's exact GP (50 Cholesky-backed Adam steps).
SKLEARN_MAX = 500
EXACT_MAX = 2000


def smooth20(n: int, m: int, seed: int, d: int = D) -> tuple[np.ndarray, np.ndarray]:
    """Smooth ``d``-input, ``m``-output function on [0, 1]^d (fixed coefficients): decaying
    additive sines plus neighbour interactions."""
    c = np.random.default_rng(12345)
    a = c.normal(size=(m, d)) * (0.7 ** np.arange(d))[None, :]
    b = c.uniform(0, 2 * np.pi, size=(m, d))
    w = c.normal(size=(m, d - 1)) * 0.3
    X = np.random.default_rng(seed).random((n, d))
    Y = (np.einsum("md,nmd->nm", a, np.sin(2.0 * X[:, None, :] + b[None]))
         + np.einsum("mk,nk->nm", w, X[:, :-1] * X[:, 1:]))
    return X, Y


def scores(Y, Yt, mean, var) -> dict[str, float]:
    err = mean - Yt
    r2 = 1 - (err**2).sum(0) / ((Yt - Yt.mean(0)) ** 2).sum(0)
    cov = np.mean(np.abs(err) <= 1.959964 * np.sqrt(var), axis=0)
    mu0, v0 = Y.mean(0), Y.var(0)
    sll = 0.5 * np.log(2 * np.pi * var) + err**2 / (2 * var)
    sll0 = 0.5 * np.log(2 * np.pi * v0) + (Yt - mu0) ** 2 / (2 * v0)
    return {"r2": float(r2.mean()), "r2_min": float(r2.min()), "coverage": float(cov.mean()),
            "msll": float((sll - sll0).mean())}


def timed(fn):
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def per_query(fn, reps: int = 200) -> float:
    """Median wall time of ``fn()`` over ``reps`` calls after one warm-up."""
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def run_twinemu(X, Y, Xt, Yt) -> tuple[dict, dict]:
    """Fit and score; returns the results and the query callables to be timed."""
    from emulators import GaussianProcess, runtime
    from simulators.design import Parameter, ParameterSpace

    space = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(X.shape[1])])
    gp, wall, cpu = timed(lambda: GaussianProcess(seed=0).fit(X, Y, space=space))
    with tempfile.TemporaryDirectory() as tmp:
        emu = runtime.load(gp.export(Path(tmp) / "e.safetensors"))
    mean, var = emu.predict(Xt)
    out = {**scores(Y, Yt, mean, var), "fit_s": wall, "fit_cpu_s": cpu,
           "sparse": bool(gp._card_model()["sparse"]),
           "status": [r.status for r in gp.fit_reports]}
    x1 = Xt[:1]
    p = emu.predictor
    queries = {"query_s": lambda: emu.predict(x1),
               "query_mean_s": lambda: emu.predict(x1, variance=None),
               "query_bare_s": lambda: _bare(p, space.to_unit(x1))}
    lowrank = gp._card_model().get("lowrank") or {}
    out["lowrank_rank"] = lowrank.get("rank")
    if getattr(p, "lowrank", None) is not None:
        queries["query_lowrank_s"] = lambda: emu.predict(x1, variance="lowrank")
        queries["query_bare_lowrank_s"] = lambda: _bare(p, space.to_unit(x1), p.lowrank)
    Xb = np.random.default_rng(5).random((10_000, X.shape[1]))
    queries["batch10k_s"] = lambda: emu.predict(Xb)
    return out, queries


def _bare(p, u, F=None):
    """The arithmetic alone (mean and variance: kernel vector, one dot product, one product
    with ``L⁻¹`` or the rank-r factor ``F``; precomputed scaled inputs)."""
    B = u / p.lengthscale[:, None, :]
    r2 = p._a2[:, :, 0] + (B * B).sum(-1) - 2.0 * np.einsum("mnd,md->mn", p._A, B[:, 0])
    r = np.sqrt(np.maximum(r2, 0.0))
    k = p.outputscale[:, None] * (1 + math.sqrt(5) * r + 5 / 3 * r * r) * np.exp(-math.sqrt(5)
                                                                                 * r)
    mean = p.const + np.matmul(p.alpha[:, None, :], k[:, :, None])[:, 0, 0]
    v = np.matmul(p.L_inv if F is None else F, k[:, :, None])[:, :, 0]
    return mean, p.outputscale + p.noise - np.einsum("mi,mi->m", v, v)


def run_sklearn(X, Y, Xt, Yt) -> tuple[dict, dict]:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    k = min(Y.shape[1], PEER_OUTPUTS)
    models, wall, cpu = [], 0.0, 0.0
    for j in range(k):
        kern = (ConstantKernel(1.0, (1e-4, 1e4)) * Matern(np.full(X.shape[1], 0.5), (1e-2, 1e2),
                                                          nu=2.5) + WhiteKernel(1e-4, (1e-6, 10)))
        gp, w, c = timed(lambda kern=kern, j=j: GaussianProcessRegressor(
            kern, normalize_y=True, n_restarts_optimizer=2, random_state=0).fit(X, Y[:, j]))
        models.append(gp)
        wall, cpu = wall + w, cpu + c
    preds = [g.predict(Xt, return_std=True) for g in models]
    mean = np.stack([p[0] for p in preds], 1)
    var = np.stack([p[1] ** 2 for p in preds], 1)
    scale = Y.shape[1] / k
    out = {**scores(Y[:, :k], Yt[:, :k], mean, var), "fit_s": wall * scale,
           "fit_cpu_s": cpu * scale, "outputs_fitted": k, "time_scale": scale}
    Xb = np.random.default_rng(5).random((10_000, X.shape[1]))
    return out, {"query_s": lambda: [g.predict(Xt[:1], return_std=True) for g in models],
                 "batch10k_s": lambda: [g.predict(Xb, return_std=True) for g in models]}


def run_gpytorch(X, Y, Xt, Yt, sparse: bool) -> tuple[dict, dict]:
    import gpytorch
    import torch

    class Exact(gpytorch.models.ExactGP):
        def __init__(self, x, y, lik):
            super().__init__(x, y, lik)
            self.mean_module = gpytorch.means.ConstantMean()
            base = gpytorch.kernels.ScaleKernel(
                gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=x.shape[1]))
            self.covar_module = (gpytorch.kernels.InducingPointKernel(
                base, inducing_points=x[torch.randperm(len(x))[:256]].clone(), likelihood=lik)
                if sparse else base)

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x),
                                                             self.covar_module(x))

    k = min(Y.shape[1], PEER_OUTPUTS)
    x = torch.tensor(X)
    xt = torch.tensor(Xt)
    wall = cpu = 0.0
    means, variances, models = [], [], []
    for j in range(k):
        mu, sd = Y[:, j].mean(), Y[:, j].std()
        y = torch.tensor((Y[:, j] - mu) / sd)
        torch.manual_seed(0)
        lik = gpytorch.likelihoods.GaussianLikelihood().double()
        model = Exact(x, y, lik).double()

        def train(model=model, lik=lik, y=y):
            model.train()
            lik.train()
            opt = torch.optim.Adam(model.parameters(), lr=0.1)
            mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
            for _ in range(50):
                opt.zero_grad()
                loss = -mll(model(x), y)
                loss.backward()
                opt.step()

        _, w, c = timed(train)
        wall, cpu = wall + w, cpu + c
        model.eval()
        lik.eval()
        with torch.no_grad(), gpytorch.settings.fast_pred_var():
            f = lik(model(xt))
            means.append(f.mean.numpy() * sd + mu)
            variances.append(f.variance.numpy() * sd**2)
        models.append((model, lik))
    scale = Y.shape[1] / k
    out = {**scores(Y[:, :k], Yt[:, :k], np.stack(means, 1), np.stack(variances, 1)),
           "fit_s": wall * scale, "fit_cpu_s": cpu * scale, "outputs_fitted": k,
           "time_scale": scale}
    xb = torch.tensor(np.random.default_rng(5).random((10_000, X.shape[1])))

    def query(pts):
        with torch.no_grad(), gpytorch.settings.fast_pred_var():
            for model, lik in models:
                f = lik(model(pts))
                _ = f.mean, f.variance

    return out, {"query_s": lambda: query(xt[:1]), "batch10k_s": lambda: query(xb)}


def time_queries(queries: dict[str, dict], rounds: int = 5, reps: int = 10) -> None:
    """Median single-query times, interleaved: each round times every method ``reps``
    times in turn; the 10k batches once each, in turn.  Writes into each method's result
    (times of peers that fitted fewer outputs scaled by ``time_scale``)."""
    single = [(m, key, fn) for m, qs in queries.items() for key, fn in qs.items()
              if key not in ("batch10k_s", "_out")]
    ts: dict[tuple[str, str], list[float]] = {(m, k): [] for m, k, _ in single}
    for _m, _k, fn in single:
        fn()  # warm-up
    for _ in range(rounds):
        for m, k, fn in single:
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                ts[m, k].append(time.perf_counter() - t)
    for (m, k), v in ts.items():
        queries[m]["_out"][k] = float(np.median(v)) * queries[m]["_out"].get("time_scale", 1)
    for qs in queries.values():
        if "batch10k_s" in qs:
            _, t, _ = timed(qs["batch10k_s"])
            qs["_out"]["batch10k_s"] = t * qs["_out"].get("time_scale", 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=sorted(GRIDS), default="study")
    ap.add_argument("--baseline", type=Path, help="JSON of the previous twinemu fit "
                    "(n=1000, m=10) measured at the commit before this work")
    ap.add_argument("--peers", default="sklearn,gpytorch-exact,gpytorch-sgpr")
    ap.add_argument("--threads", action="store_true",
                    help="only compare fit and single-query times with 1 and 2 BLAS threads")
    args = ap.parse_args(argv)
    if args.threads:
        return threads_check()
    import os
    import platform
    import warnings

    import torch
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore", module="sklearn")
    torch.set_num_threads(1)
    peers = [p for p in args.peers.split(",") if p]
    methods = ["twinemu", *[m for m in METHODS if m in peers]]
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(),
               "shared": "yes: other jobs ran on the same 2 cores during the benchmark",
               "blas_threads": 1, "load_before": os.getloadavg()}
    rows = []
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        for i, (n, m) in enumerate(GRIDS[args.grid]):
            X, Y = smooth20(n, m, seed=0)
            Xt, Yt = smooth20(2000, m, seed=1)
            res, queries = {}, {}
            order = methods[i % len(methods):] + methods[:i % len(methods)]  # rotated
            for name in order:
                if (name == "sklearn" and n > SKLEARN_MAX
                        or name == "gpytorch-exact" and n > EXACT_MAX):
                    res[name] = {"skipped": f"n > {SKLEARN_MAX if name == 'sklearn' else EXACT_MAX}"
                                            ": too slow on 2 cores"}
                    continue
                try:
                    out, qs = (run_twinemu(X, Y, Xt, Yt) if name == "twinemu"
                               else run_sklearn(X, Y, Xt, Yt) if name == "sklearn"
                               else run_gpytorch(X, Y, Xt, Yt, sparse=name.endswith("sgpr")))
                except ImportError as exc:
                    res[name] = {"skipped": f"not installed ({exc.name})"}
                    continue
                res[name] = out
                queries[name] = {**qs, "_out": out}
                print(f"n={n} m={m} {name} fit {out['fit_s']:.1f} s", flush=True)
            time_queries(queries)
            rows.append({"n": n, "m": m, "d": D,
                         "results": {k: res[k] for k in methods if k in res}})
    machine["load_after"] = os.getloadavg()
    machine["total_s"] = time.perf_counter() - t0
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    print_table(rows, baseline, machine)
    out = Path(__file__).parent / "results" / "gp_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"grid": args.grid, "machine": machine, "rows": rows,
                               "baseline": baseline}, indent=1))
    print(f"wrote {out}")
    return 0


def threads_check(n: int = 600, m: int = 2) -> int:
    """Fit and single-query times with 1 vs 2 BLAS threads (``GaussianProcess(threads=)``
    for the fit, threadpoolctl around the query)."""
    from threadpoolctl import threadpool_limits

    from emulators import GaussianProcess
    from simulators.design import Parameter, ParameterSpace

    X, Y = smooth20(n, m, seed=0)
    space = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(D)])
    out = {}
    for t in (1, 2):
        gp, wall, cpu = timed(lambda t=t: GaussianProcess(threads=t, seed=0).fit(
            X, Y, space=space))
        with threadpool_limits(limits=t):
            q = per_query(lambda gp=gp: gp.predict(X[:1]))
        out[t] = {"fit_s": wall, "fit_cpu_s": cpu, "query_s": q}
        print(f"threads={t}: fit {wall:.1f} s wall, {cpu:.1f} s CPU; single query "
              f"{1e3 * q:.3f} ms", flush=True)
    path = Path(__file__).parent / "results" / "gp_scale_threads.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"n": n, "m": m, "d": D, "results": out}, indent=1))
    return 0


def print_table(rows, baseline=None, machine=None) -> None:
    def ratio(r, ours, key):
        return r[key] / ours[key] if key in r and ours.get(key) else float("nan")

    hdr = (f"{'n':>6} {'m':>3} {'method':<23} {'R²':>7} {'R²min':>7} {'cov95':>6} "
           f"{'MSLL':>6} {'fit s':>8} {'cpu s':>8} {'÷ours':>6} {'1q ms':>8} {'÷ours':>6} "
           f"{'10k s':>7} {'÷ours':>6}")
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        ours = row["results"]["twinemu"]
        for name, r in row["results"].items():
            if "skipped" in r:
                print(f"{row['n']:>6} {row['m']:>3} {name:<23} skipped: {r['skipped']}")
                continue
            star = "*" if r.get("outputs_fitted", row["m"]) < row["m"] else " "
            label = name + (" (sparse)" if r.get("sparse") else "") + (
                f" ({r['outputs_fitted']} fitted)" if star == "*" else "")
            print(f"{row['n']:>6} {row['m']:>3} {label:<23} {r['r2']:7.4f} {r['r2_min']:7.4f} "
                  f"{r['coverage']:6.3f} {r['msll']:6.2f} {r['fit_s']:7.1f}{star} "
                  f"{r['fit_cpu_s']:8.1f} {ratio(r, ours, 'fit_cpu_s'):6.2f} "
                  f"{1e3 * r['query_s']:8.3f} {ratio(r, ours, 'query_s'):6.1f} "
                  f"{r.get('batch10k_s', float('nan')):7.2f} {ratio(r, ours, 'batch10k_s'):6.2f}")
        if "query_bare_s" in ours:
            lr = ours.get("query_lowrank_s")
            print(f"{'':>11}twinemu single query: exact {1e3 * ours['query_s']:.3f} ms "
                  f"(÷ bare {ours['query_s'] / ours['query_bare_s']:.2f}), mean only "
                  f"{1e3 * ours['query_mean_s']:.3f} ms, "
                  + (f"lowrank {1e3 * lr:.3f} ms (rank {ours['lowrank_rank']}; ÷ bare "
                     f"{lr / ours['query_bare_lowrank_s']:.2f}), " if lr else
                     f"no lowrank factor (rank {ours.get('lowrank_rank')}), ")
                  + f"bare numpy arithmetic {1e3 * ours['query_bare_s']:.3f} ms")
    print("* peers fitted the first output; their times are scaled to m.  Ratios are "
          "peer ÷ twinemu (CPU time for the fit).  One BLAS thread for everyone.")
    if machine:
        print(f"Machine: {machine['platform']}, {machine['cpus']} CPUs, shared with other "
              f"jobs (load {machine['load_before'][0]:.1f} before, "
              f"{machine['load_after'][0]:.1f} after); {machine['total_s']:.0f} s in all.")
    if baseline:
        new = next((r["results"]["twinemu"] for r in rows if r["n"] == 1000 and r["m"] == 10),
                   None)
        if new:
            print(f"\nn=1000 m=10, before (joint L-BFGS, gpytorch): fit {baseline['fit_s']:.0f} s "
                  f"wall / {baseline.get('cpu_s', float('nan')):.0f} s CPU, R² "
                  f"{np.mean(baseline['r2']):.5f}; now {new['fit_s']:.0f} s / "
                  f"{new['fit_cpu_s']:.0f} s CPU, R² {new['r2']:.5f}")


if __name__ == "__main__":
    raise SystemExit(main())
