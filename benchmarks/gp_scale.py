"""Gaussian processes at study scale: twinemu vs scikit-learn vs gpytorch.

For each ``(n runs, m outputs)`` of a smooth 20-input test function on [0, 1]^20:

- ``twinemu``: :class:`emulators.GaussianProcess` (per-output fits on a maximin subset,
  refined on all runs; sparse above ``sparse_above`` runs), predictions from its exported
  file through the numpy runtime;
- ``sklearn``: ``GaussianProcessRegressor`` (ARD Matérn-5/2 × constant + white noise,
  ``normalize_y``, 1 restart), one per output;
- ``gpytorch-exact``: gpytorch's tutorial exact GP (ARD Matérn-5/2, Adam lr 0.1,
  50 iterations), one per output;
- ``gpytorch-sgpr``: gpytorch's ``InducingPointKernel`` (SGPR, 256 inducing points,
  Adam lr 0.1, 50 iterations), one per output.

Held-out R², 95% coverage and MSLL (R&W 2006 eq. 2.34, against the training mean and
variance) on 2,000 random points; fit time (wall and CPU); single-query and 10k-batch
predict time.  sklearn and the exact gpytorch GP are skipped where they are hopeless on 2
cores (sklearn above 500 runs, exact gpytorch above 2,000), and only the first 3 outputs
are fitted by the peers when ``m > 3`` (their per-output times are scaled to ``m``: the
``*`` in the table).  Prints a table with ratios to twinemu and writes
``benchmarks/results/gp_scale.json``.

    OMP_NUM_THREADS=1 python benchmarks/gp_scale.py [--grid quick|full] [--baseline FILE]
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
}
PEER_OUTPUTS = 3
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
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def run_twinemu(X, Y, Xt, Yt) -> dict:
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
    out["query_s"] = per_query(lambda: emu.predict(x1))
    p = emu.predictor
    if getattr(p, "lowrank", None) is not None:
        out["query_lowrank_s"] = per_query(lambda: emu.predict(x1, variance="lowrank"))
        out["lowrank_rank"] = gp._card_model()["lowrank"]["rank"]
    out["query_bare_s"] = per_query(lambda: _bare(p, space.to_unit(x1)))
    Xb = np.random.default_rng(5).random((10_000, X.shape[1]))
    _, out["batch10k_s"], _ = timed(lambda: emu.predict(Xb))
    return out


def _bare(p, u):
    """The arithmetic alone (exact mean and variance, precomputed scaled inputs)."""
    B = u / p.lengthscale[:, None, :]
    r2 = p._a2[:, :, 0] + (B * B).sum(-1) - 2.0 * np.einsum("mnd,md->mn", p._A, B[:, 0])
    r = np.sqrt(np.maximum(r2, 0.0))
    k = p.outputscale[:, None] * (1 + math.sqrt(5) * r + 5 / 3 * r * r) * np.exp(-math.sqrt(5)
                                                                                 * r)
    mean = p.const + np.einsum("mn,mn->m", p.alpha, k)
    v = np.einsum("mij,mj->mi", p.L_inv, k)
    return mean, p.outputscale + p.noise - np.einsum("mi,mi->m", v, v)


def run_sklearn(X, Y, Xt, Yt) -> dict:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    k = min(Y.shape[1], PEER_OUTPUTS)
    models, wall, cpu = [], 0.0, 0.0
    for j in range(k):
        kern = (ConstantKernel(1.0, (1e-4, 1e4)) * Matern(np.full(X.shape[1], 0.5), (1e-2, 1e2),
                                                          nu=2.5) + WhiteKernel(1e-4, (1e-6, 10)))
        gp, w, c = timed(lambda kern=kern, j=j: GaussianProcessRegressor(
            kern, normalize_y=True, n_restarts_optimizer=1, random_state=0).fit(X, Y[:, j]))
        models.append(gp)
        wall, cpu = wall + w, cpu + c
    preds = [g.predict(Xt, return_std=True) for g in models]
    mean = np.stack([p[0] for p in preds], 1)
    var = np.stack([p[1] ** 2 for p in preds], 1)
    scale = Y.shape[1] / k
    out = {**scores(Y[:, :k], Yt[:, :k], mean, var), "fit_s": wall * scale,
           "fit_cpu_s": cpu * scale, "outputs_fitted": k}
    out["query_s"] = per_query(lambda: [g.predict(Xt[:1], return_std=True) for g in models],
                               50) * scale
    _, b, _ = timed(lambda: [g.predict(Xt[:10_000], return_std=True) for g in models])
    out["batch10k_s"] = b * scale * 10_000 / min(len(Xt), 10_000)
    return out


def run_gpytorch(X, Y, Xt, Yt, sparse: bool) -> dict:
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
           "fit_s": wall * scale, "fit_cpu_s": cpu * scale, "outputs_fitted": k}

    def query(rows):
        with torch.no_grad(), gpytorch.settings.fast_pred_var():
            for model, lik in models:
                f = lik(model(xt[:rows]))
                _ = f.mean, f.variance

    out["query_s"] = per_query(lambda: query(1), 50) * scale
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=sorted(GRIDS), default="quick")
    ap.add_argument("--baseline", type=Path, help="JSON of the previous twinemu fit "
                    "(n=1000, m=10) measured at the commit before this work")
    ap.add_argument("--peers", default="sklearn,gpytorch-exact,gpytorch-sgpr")
    ap.add_argument("--threads", action="store_true",
                    help="only compare fit and single-query times with 1 and 2 BLAS threads")
    args = ap.parse_args(argv)
    if args.threads:
        return threads_check()
    import warnings

    import torch

    warnings.filterwarnings("ignore", module="sklearn")
    torch.set_num_threads(1)
    peers = [p for p in args.peers.split(",") if p]
    rows = []
    for n, m in GRIDS[args.grid]:
        X, Y = smooth20(n, m, seed=0)
        Xt, Yt = smooth20(2000, m, seed=1)
        res = {"twinemu": run_twinemu(X, Y, Xt, Yt)}
        print(f"n={n} m={m} twinemu {res['twinemu']['fit_s']:.1f}s", flush=True)
        for peer in peers:
            if peer == "sklearn" and n > SKLEARN_MAX or peer == "gpytorch-exact" and n > EXACT_MAX:
                res[peer] = {"skipped": "hopeless on 2 cores at this size"}
                continue
            try:
                res[peer] = (run_sklearn(X, Y, Xt, Yt) if peer == "sklearn"
                             else run_gpytorch(X, Y, Xt, Yt, sparse=peer.endswith("sgpr")))
            except ImportError as exc:
                res[peer] = {"skipped": f"not installed ({exc.name})"}
            print(f"n={n} m={m} {peer} {res[peer].get('fit_s', float('nan')):.1f}s", flush=True)
        rows.append({"n": n, "m": m, "d": D, "results": res})
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    print_table(rows, baseline)
    out = Path(__file__).parent / "results" / "gp_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"grid": args.grid, "rows": rows, "baseline": baseline},
                              indent=1))
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


def print_table(rows, baseline=None) -> None:
    hdr = (f"{'n':>6} {'m':>3} {'method':<15} {'R²':>7} {'R²min':>7} {'cov95':>6} "
           f"{'MSLL':>6} {'fit s':>8} {'cpu s':>8} {'×ours':>6} {'1q ms':>7} {'10k s':>6}")
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        ours = row["results"]["twinemu"]
        for name, r in row["results"].items():
            if "skipped" in r:
                print(f"{row['n']:>6} {row['m']:>3} {name:<15} skipped: {r['skipped']}")
                continue
            star = "*" if r.get("outputs_fitted", row["m"]) < row["m"] else " "
            label = name + (" (sparse)" if r.get("sparse") else "")
            print(f"{row['n']:>6} {row['m']:>3} {label:<15} {r['r2']:7.4f} {r['r2_min']:7.4f} "
                  f"{r['coverage']:6.3f} {r['msll']:6.2f} {r['fit_s']:7.1f}{star} "
                  f"{r['fit_cpu_s']:8.1f} {r['fit_cpu_s'] / ours['fit_cpu_s']:6.2f} "
                  f"{1e3 * r['query_s']:7.3f} {r.get('batch10k_s', float('nan')):6.2f}")
        if "query_bare_s" in ours:
            lr = ours.get("query_lowrank_s")
            print(f"{'':>11}twinemu single query: exact {1e3 * ours['query_s']:.3f} ms, "
                  + (f"lowrank {1e3 * lr:.3f} ms (rank {ours['lowrank_rank']}), " if lr else
                     "lowrank n/a, ")
                  + f"bare numpy arithmetic {1e3 * ours['query_bare_s']:.3f} ms "
                  f"(ratio {ours['query_s'] / ours['query_bare_s']:.2f})")
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
