"""Emulator benchmark: twinemu against the peers modellers use today, same run, same machine.

1. Fit + accuracy: ``GaussianProcess`` (L-BFGS to convergence, 3 restarts, one batched
   model for all outputs) against the hand-rolled gpytorch script of the tutorials (one
   ExactGP per output, Adam, 200 iterations at lr 0.1).
2. Query latency of one point: the numpy-only runtime against gpytorch's own posterior
   (``model.eval(); likelihood(model(x))`` under ``no_grad``/``fast_pred_var``).
3. Sobol' indices of the Ishigami function: ``emulators.sensitivity.sobol`` against SALib
   (Saltelli sampling + analysis) at the same N, error against the closed form.

Prints a table (ratios are peer ÷ twinemu for times, so > 1 means we are faster) and
writes ``benchmarks/results/emulator_speed.json``.  Run: ``python benchmarks/emulator_speed.py``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import gpytorch
import numpy as np
import torch

from emulators import GaussianProcess, runtime
from emulators.sensitivity import sobol
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import IshigamiSimulator, ishigami, ishigami_indices

OUT = Path(__file__).resolve().parent / "results" / "emulator_speed.json"
torch.set_num_threads(1)


def test_problem(n: int, seed: int):
    """Five inputs, four outputs with the flavour of haemodynamic responses."""
    space = ParameterSpace([Parameter(f"x{i}", 0.0, 1.0) for i in range(5)])
    X = space.sample(n, method="lhs" if seed == 0 else "random", seed=seed)
    a, b, c, d, e = X.T
    Y = np.column_stack([
        (1 + a) * (1 + 0.5 * b) + 0.2 * c,
        np.exp(-2 * c) * (1 + d) + 0.1 * a * e,
        np.sin(3 * a) + b * d,
        np.sqrt(1 + 4 * e) * (1 + 0.3 * np.cos(5 * b)),
    ])
    return space, X, Y


def r2(truth, pred):
    return 1 - np.sum((truth - pred) ** 2, 0) / np.sum((truth - truth.mean(0)) ** 2, 0)


class TutorialGP(gpytorch.models.ExactGP):
    def __init__(self, x, y, lik):
        super().__init__(x, y, lik)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=x.shape[1]))

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x),
                                                         self.covar_module(x))


def fit_tutorial(X, Y):
    models = []
    x = torch.as_tensor(X)
    for j in range(Y.shape[1]):
        mu, sd = Y[:, j].mean(), Y[:, j].std()
        y = torch.as_tensor((Y[:, j] - mu) / sd)
        lik = gpytorch.likelihoods.GaussianLikelihood().double()
        model = TutorialGP(x, y, lik).double()
        model.train()
        lik.train()
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
        for _ in range(200):
            opt.zero_grad()
            loss = -mll(model(x), y)
            loss.backward()
            opt.step()
        model.eval()
        lik.eval()
        models.append((model, lik, mu, sd))
    return models


def predict_tutorial(models, X):
    x = torch.as_tensor(X)
    out = []
    with torch.no_grad(), gpytorch.settings.fast_pred_var():
        for model, lik, mu, sd in models:
            out.append(lik(model(x)).mean.numpy() * sd + mu)
    return np.column_stack(out)


def timeit(fn, repeat):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> dict:
    rows, results = [], {"machine": platform.processor() or platform.machine(),
                         "torch_threads": torch.get_num_threads()}
    space, X, Y = test_problem(64, 0)
    _, Xt, Yt = test_problem(500, 1)

    t0 = time.perf_counter()
    gp = GaussianProcess(restarts=3).fit(X, Y, space=space)
    t_ours = time.perf_counter() - t0
    r2_ours = r2(Yt, gp.predict(Xt)[0]).min()
    t0 = time.perf_counter()
    tut = fit_tutorial(X, Y)
    t_tut = time.perf_counter() - t0
    r2_tut = r2(Yt, predict_tutorial(tut, Xt)).min()
    results["fit"] = {"n": 64, "d": 5, "m": 4, "twinemu_s": t_ours, "tutorial_s": t_tut,
                      "twinemu_min_r2": float(r2_ours), "tutorial_min_r2": float(r2_tut)}
    rows.append(("GP fit, n=64 d=5 m=4 (s)", t_ours, t_tut, t_tut / t_ours))
    rows.append(("  worst held-out 1 - R² (500 pts)", 1 - r2_ours, 1 - r2_tut,
                 (1 - r2_tut) / (1 - r2_ours)))

    path = OUT.parent / "bench_emulator.safetensors"
    gp.export(path)
    emu = runtime.load(path)
    x1 = Xt[:1]
    t_rt = timeit(lambda: emu.predict(x1), 2000)
    t_gpy = timeit(lambda: predict_tutorial(tut, x1), 200)
    results["query"] = {"twinemu_runtime_us": t_rt * 1e6, "gpytorch_us": t_gpy * 1e6}
    rows.append(("one-point query (µs)", t_rt * 1e6, t_gpy * 1e6, t_gpy / t_rt))
    t_batch = timeit(lambda: emu.predict(Xt), 50)
    rows.append(("500-point batch query (µs/point)", t_batch / 500 * 1e6, float("nan"),
                 float("nan")))
    path.unlink()

    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    n = 8192
    S1, ST = ishigami_indices()
    t0 = time.perf_counter()
    ours = sobol(ishigami, IshigamiSimulator().space, n=n, seed=0, n_boot=200)
    t_s_ours = time.perf_counter() - t0
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    t0 = time.perf_counter()
    P = salib_sample.sample(problem, n, calc_second_order=False, seed=0)
    ref = salib_analyze.analyze(problem, ishigami(P), calc_second_order=False,
                                num_resamples=200, seed=0)
    t_s_ref = time.perf_counter() - t0
    err_ours = float(max(np.abs(ours.S1 - S1).max(), np.abs(ours.ST - ST).max()))
    err_ref = float(max(np.abs(ref["S1"] - S1).max(), np.abs(ref["ST"] - ST).max()))
    w_ours = float(np.mean(ours.S1_conf))
    w_ref = float(np.mean(ref["S1_conf"]))
    results["sobol"] = {"n": n, "twinemu_s": t_s_ours, "salib_s": t_s_ref,
                        "twinemu_max_abs_error": err_ours, "salib_max_abs_error": err_ref,
                        "twinemu_mean_S1_halfwidth": w_ours, "salib_mean_S1_halfwidth": w_ref}
    rows.append((f"Sobol' Ishigami N={n}, 200 bootstraps (s)", t_s_ours, t_s_ref,
                 t_s_ref / t_s_ours))
    rows.append(("  max |error| vs closed form", err_ours, err_ref, err_ref / err_ours))

    print(f"{'benchmark':<42} {'twinemu':>12} {'peer':>12} {'peer/ours':>10}")
    for name, a, b, ratio in rows:
        print(f"{name:<42} {a:12.4g} {b:12.4g} {ratio:10.2f}")
    from importlib.metadata import version

    print("peers: fit/query = hand-rolled gpytorch tutorial script; Sobol' = SALib "
          f"{version('SALib')}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")
    return results


if __name__ == "__main__":
    main()
