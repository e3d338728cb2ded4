"""Low-rank predictive variance: the rank it needs, its error, and single-query times.

For the borehole function (8 inputs; n = 200 and 1,000 runs) and the default experiment's
Windkessel GP (``twinemu run``: 48 runs, 5 inputs): the smallest rank ``r`` of the
eigen-factor ``P = (Λ_r + σ²)^-½ Q_rᵀ`` of the noise-free kernel matrix
(``k*ᵀK⁻¹k* ≈ |Pk*|²``, never below the exact variance) whose excess over the exact
variance stays below a stated fraction, for several ways of stating it, measured on 1,000
held-out random points; then single-query times (mean only, exact variance, low-rank
variance, and the bare numpy arithmetic: kernel vector, one dot product, one product with
``L⁻¹`` or ``P``), interleaved, one BLAS thread, on a shared 2-core machine.  Writes
``benchmarks/results/gp_lowrank_variance.json``.

    python benchmarks/gp_lowrank_variance.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "emulators"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gp_scale import _bare  # noqa: E402

CRITERIA = {  # name: (excess e, exact v, prior p, per rank) -> bool
    "max e/v <= 0.05": lambda e, v, p: (e / v).max(1) <= 0.05,
    "95% of e/v <= 0.05": lambda e, v, p: np.quantile(e / v, 0.95, axis=1) <= 0.05,
    "max e/v <= 0.25": lambda e, v, p: (e / v).max(1) <= 0.25,
    "max e/v <= 1": lambda e, v, p: (e / v).max(1) <= 1.0,
    "max e <= 0.05 median(v)": lambda e, v, p: e.max(1) <= 0.05 * np.median(v),
    "max e/prior <= 1e-3": lambda e, v, p: e.max(1) <= 1e-3 * p,
}


def ranks_needed(gp, U: np.ndarray, P: np.ndarray) -> list[dict]:
    from emulators.runtime.gp import kernel_matrix

    A = gp._arrays
    out = []
    for j in range(A["gp.lengthscale"].shape[0]):
        ls, os_ = A["gp.lengthscale"][j:j + 1], A["gp.outputscale"][j:j + 1]
        noise = A["gp.noise"][j]
        Kf = kernel_matrix(gp.kernel, U, U, ls, os_)[0]
        Ks = kernel_matrix(gp.kernel, U, P, ls, os_)[0]
        V = A["gp.L_inv"][j] @ Ks
        quad = (V * V).sum(0)
        exact = os_[0] + noise - quad
        lam, Q = linalg.eigh(Kf)
        lam, Q = np.maximum(lam[::-1], 0.0), Q[:, ::-1]
        excess = quad[None, :] - np.cumsum((Q.T @ Ks) ** 2 / (lam + noise)[:, None], axis=0)
        row = {"output": j, "n": len(U), "prior_variance": float(os_[0] + noise),
               "posterior_variance_median": float(np.median(exact)),
               "posterior_variance_max": float(exact.max())}
        for name, crit in CRITERIA.items():
            ok = np.flatnonzero(crit(excess, exact, os_[0] + noise))
            row[name] = int(ok[0]) + 1 if len(ok) else None
        out.append(row)
    return out


def query_times(gp, space, U1: np.ndarray, rounds: int = 20, reps: int = 20) -> dict:
    from emulators import runtime

    with tempfile.TemporaryDirectory() as tmp:
        emu = runtime.load(gp.export(Path(tmp) / "e.safetensors"))
    p = emu.predictor
    x1 = space.from_unit(U1)
    fns = {"mean_only": lambda: emu.predict(x1, variance=None),
           "exact": lambda: emu.predict(x1, variance="exact"),
           "bare_exact": lambda: _bare(p, U1)}
    if p.lowrank is not None:
        fns["lowrank"] = lambda: emu.predict(x1, variance="lowrank")
        fns["bare_lowrank"] = lambda: _bare(p, U1, p.lowrank)
    ts = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for k, fn in fns.items():
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                ts[k].append(time.perf_counter() - t)
    out = {k + "_ms": 1e3 * float(np.median(v)) for k, v in ts.items()}
    out["exact_over_bare"] = out["exact_ms"] / out["bare_exact_ms"]
    if "lowrank_ms" in out:
        out["lowrank_over_bare"] = out["lowrank_ms"] / out["bare_lowrank_ms"]
        out["lowrank_over_exact"] = out["lowrank_ms"] / out["exact_ms"]
    return out


def main() -> int:
    import torch
    from test_gp_calibrated_coverage import BOREHOLE, borehole, windkessel_default_experiment

    from emulators import GaussianProcess

    torch.set_num_threads(1)
    results = {}
    probes_b = BOREHOLE.sample(1000, method="random", seed=7)
    with threadpool_limits(limits=1):
        for n in (200, 1000):
            X = BOREHOLE.sample(n, seed=0)
            gp = GaussianProcess(restarts=2, seed=0).fit(X, borehole(X), space=BOREHOLE)
            U = BOREHOLE.to_unit(X)
            v_ex = gp.predict(probes_b, variance="exact")[1]
            v_lr = gp.predict(probes_b, variance="lowrank")[1]
            results[f"borehole n={n}"] = {
                "card": gp._card_model().get("lowrank"),
                "held_out_max_rel_error": float(((v_lr - v_ex) / v_ex).max()),
                "ranks": ranks_needed(gp, U, BOREHOLE.to_unit(probes_b)),
                "times": query_times(gp, BOREHOLE, BOREHOLE.to_unit(probes_b[:1]))}
        import os
        os.chdir(ROOT)
        sim, X, Y, _, _ = windkessel_default_experiment()
        gp = GaussianProcess(kernel="matern52", restarts=3, pca=0.9999).fit(X, Y,
                                                                          space=sim.space)
        P = np.random.default_rng(3).random((1000, X.shape[1]))
        results["windkessel default"] = {
            "card": gp._card_model().get("lowrank"),
            "ranks": ranks_needed(gp, sim.space.to_unit(X), P),
            "times": query_times(gp, sim.space, P[:1])}
    for name, r in results.items():
        print(f"\n{name}: card {r['card']}")
        print(f"  {'output':>6} {'n':>5} {'post var (median)':>17} "
              + " ".join(f"{c:>24}" for c in CRITERIA))
        for row in r["ranks"]:
            print(f"  {row['output']:>6} {row['n']:>5} {row['posterior_variance_median']:17.2e} "
                  + " ".join(f"{str(row[c]):>24}" for c in CRITERIA))
        t = r["times"]
        print("  single query (ms): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
    out = Path(__file__).parent / "results" / "gp_lowrank_variance.json"
    out.write_text(json.dumps({"note": "ranks: smallest r meeting each criterion on 1,000 "
                               "random points (e: low-rank minus exact variance, v: exact "
                               "posterior variance, prior: k** + noise); times: median of "
                               "400 interleaved calls, one BLAS thread, shared 2-core machine",
                               "results": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
