"""Sensitivity benchmark: twinemu against SALib and emukit, same problems, same machine.

1. Sobol' indices of the Ishigami function (a = 7, b = 0.1) for N = 2¹⁰ … 2¹⁶ base samples:
   * SALib (``sample.sobol`` + ``analyze.sobol``, 100 bootstrap resamples) and twinemu on
     *SALib's own samples* (``design_from_matrices`` + ``sobol_result``, 100 resamples):
     the same estimators, so the estimates must agree to round-off; time of the analysis.
   * twinemu end to end (``sobol``: scrambled Sobol' design, evaluation, bootstrap).
   * emukit ``ModelFreeMonteCarloSensitivity`` (random sampling, Saltelli 2002 estimators,
     no intervals) if ``import emukit`` works; the column is skipped otherwise.
   Error: the largest |index − closed form| over S1 and ST.
2. The Sobol' G-function (d = 8, a = [0, 1, 4.5, 9, 99, 99, 99, 99]) at the default N.
3. Indices over a GP's posterior: cost per posterior function (pathwise RFF for RBF, exact
   joint draws for Matérn-5/2), and the closed-form indices of an RBF GP's mean against
   Monte Carlo (time and largest difference).

Prints a table (ratios are peer ÷ twinemu for times, so > 1 means twinemu is faster) and
writes ``benchmarks/results/sensitivity.json``.  Run: ``python benchmarks/sensitivity.py``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from emulators import GaussianProcess
from emulators.sensitivity import (
    analyse,
    analytic_sobol,
    design_from_matrices,
    sobol,
    sobol_result,
)
from emulators.sensitivity.posterior import mean_function
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import IshigamiSimulator, ishigami, ishigami_indices

OUT = Path(__file__).resolve().parent / "results" / "sensitivity.json"
N_BOOT = 100


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def salib_vs_twinemu(N: int) -> dict:
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    d = 3
    problem = {"num_vars": d, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * d}
    S1x, STx = ishigami_indices()

    def salib():
        P = salib_sample.sample(problem, N, calc_second_order=False, seed=1)
        return P, salib_analyze.analyze(problem, ishigami(P), calc_second_order=False,
                                        num_resamples=N_BOOT, seed=1)
    t_salib, (P, ref) = _timed(salib)
    step = d + 2
    design = design_from_matrices(P[0::step], P[step - 1::step])

    def same_samples():
        return sobol_result(design, ishigami(design.points()), problem["names"], single=True,
                            n_boot=N_BOOT, rng=1)
    t_same, ours = _timed(same_samples)
    t_ours, own = _timed(lambda: sobol(ishigami, IshigamiSimulator().space, n=N, seed=1,
                                       n_boot=N_BOOT))
    row = {"N": N, "evaluations": N * (d + 2),
           "salib_s": t_salib, "twinemu_same_samples_s": t_same, "twinemu_s": t_ours,
           "same_samples_max_diff": float(max(np.max(np.abs(ours.S1 - ref["S1"])),
                                              np.max(np.abs(ours.ST - ref["ST"])))),
           "salib_err": float(max(np.max(np.abs(ref["S1"] - S1x)),
                                  np.max(np.abs(ref["ST"] - STx)))),
           "twinemu_err": float(max(np.max(np.abs(own.S1 - S1x)), np.max(np.abs(own.ST - STx)))),
           "twinemu_ci_contains_truth": bool(np.all((own.S1_low <= S1x) & (S1x <= own.S1_high))
                                             and np.all((own.ST_low <= STx)
                                                        & (STx <= own.ST_high)))}
    row.update(_emukit(N))
    return row


def _emukit(N: int) -> dict:
    try:
        from emukit.core import ContinuousParameter
        from emukit.core import ParameterSpace as EmukitSpace
        from emukit.sensitivity.monte_carlo import ModelFreeMonteCarloSensitivity
    except ImportError:
        return {"emukit_s": None, "emukit_err": None}
    space = EmukitSpace([ContinuousParameter(f"x{i}", -np.pi, np.pi) for i in (1, 2, 3)])
    S1x, STx = ishigami_indices()
    np.random.seed(1)  # noqa: NPY002 - emukit samples with the global numpy state
    sens = ModelFreeMonteCarloSensitivity(lambda X: ishigami(X)[:, None], space)
    t, (main, total, _) = _timed(lambda: sens.compute_effects(num_monte_carlo_points=N))
    S1 = np.array([np.ravel(main[f"x{i}"])[0] for i in (1, 2, 3)])
    ST = np.array([np.ravel(total[f"x{i}"])[0] for i in (1, 2, 3)])
    return {"emukit_s": t, "emukit_err": float(max(np.max(np.abs(S1 - S1x)),
                                                   np.max(np.abs(ST - STx))))}


def g_function_default() -> dict:
    a = np.array([0, 1, 4.5, 9, 99, 99, 99, 99], dtype=float)
    space = ParameterSpace([Parameter(f"x{i + 1}", 0, 1) for i in range(8)])
    Vi = 1 / (3 * (1 + a) ** 2)
    V = np.prod(1 + Vi) - 1
    S1x, STx = Vi / V, Vi * np.prod(1 + Vi) / (1 + Vi) / V
    t, res = _timed(lambda: sobol(lambda X: np.prod((np.abs(4 * X - 2) + a) / (1 + a), axis=1),
                                  space, seed=1, n_boot=N_BOOT))
    return {"N": res.n, "seconds": t,
            "S1_err": float(np.max(np.abs(res.S1 - S1x))),
            "ST_err": float(np.max(np.abs(res.ST - STx)))}


def posterior_cost() -> dict:
    space = ParameterSpace([Parameter(f"x{i}", 0, 1) for i in range(1, 6)])
    X = space.sample(100, seed=0)

    def f(X):
        return np.sin(np.pi * X[:, 0]) * (1 + X[:, 1]) + 0.5 * X[:, 2] ** 2
    out = {}
    for kernel in ("rbf", "matern52"):
        gp = GaussianProcess(kernel=kernel, restarts=1).fit(X, f(X), space=space)
        times = {}
        for draws in (8, 128):
            best = float("inf")
            for _ in range(3):  # the least-disturbed of three runs
                rep = analyse(gp, seed=0, n=1024, n_boot=0, posterior_draws=draws,
                              morris=False, analytic=False, waveforms=False)
                best = min(best, rep.seconds["posterior"])
            times[draws] = best
        per_draw = (times[128] - times[8]) / 120
        out[kernel] = {"posterior_n": rep.posterior["n"], "points": rep.posterior["n"] * 7,
                       "seconds_8": times[8], "seconds_128": times[128],
                       "seconds_per_draw": per_draw, "method": rep.posterior["method"],
                       "inert_ST_emu_high": float(np.max(rep.emulator_intervals()["ST"][1][0,
                                                                                        3:]))}
        if kernel == "rbf":
            ta, exact = _timed(lambda gp=gp: analytic_sobol(gp))
            tm, mc = _timed(lambda gp=gp: sobol(mean_function(gp), space, n=2**15, seed=2,
                                                n_boot=0))
            out["analytic"] = {"seconds": ta, "mc_seconds_N2^15": tm,
                               "max_diff_vs_mc": float(max(np.max(np.abs(exact.S1[0] - mc.S1)),
                                                           np.max(np.abs(exact.ST[0] - mc.ST)))),
                               "inert_ST": exact.ST[0, 3:].tolist()}
    return out


def main() -> None:
    rows = [salib_vs_twinemu(2**k) for k in range(10, 17, 2)]
    g = g_function_default()
    post = posterior_cost()
    print(f"Sobol' indices of Ishigami: time [s] (ratio = peer / twinemu), max |error|; "
          f"SALib and twinemu with {N_BOOT} bootstrap resamples, emukit without intervals")
    print(f"{'N':>6} {'SALib':>8} {'ours@SALib':>10} {'ratio':>6} {'ours':>7} {'emukit':>8} "
          f"{'ratio':>6} {'diff@same':>9} {'err SALib':>9} {'err ours':>9} {'err emukit':>10}")
    for r in rows:
        ek, ee = r["emukit_s"], r["emukit_err"]
        ek_s = "-" if ek is None else f"{ek:.3f}"
        ek_r = "-" if ek is None else f"{ek / r['twinemu_s']:.1f}"
        ee_s = "-" if ee is None else f"{ee:.4f}"
        print(f"{r['N']:>6} {r['salib_s']:8.3f} {r['twinemu_same_samples_s']:10.3f} "
              f"{r['salib_s'] / r['twinemu_same_samples_s']:6.1f} {r['twinemu_s']:7.3f} "
              f"{ek_s:>8} {ek_r:>6} {r['same_samples_max_diff']:9.1e} "
              f"{r['salib_err']:9.4f} {r['twinemu_err']:9.4f} {ee_s:>10}")
    print(f"\nG-function (d = 8) at the default N = {g['N']}: max |S1 err| {g['S1_err']:.4f}, "
          f"max |ST err| {g['ST_err']:.4f} ({g['seconds']:.2f} s)")
    print("\nIndices over a GP posterior (5 inputs, 100 runs, default posterior design):")
    for k in ("rbf", "matern52"):
        p = post[k]
        print(f"  {k:<9} {p['seconds_per_draw'] * 1e3:7.1f} ms per posterior function on "
              f"{p['points']} points ({p['seconds_8']:.2f} s for 8, {p['seconds_128']:.2f} s "
              f"for 128); inert ST upper bound {p['inert_ST_emu_high']:.1e}\n"
              f"            {p['method']}")
    a = post["analytic"]
    print(f"  closed form (RBF mean): {a['seconds']:.3f} s vs Monte Carlo N = 2^15 "
          f"{a['mc_seconds_N2^15']:.2f} s; max |difference| {a['max_diff_vs_mc']:.1e}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "n_boot": N_BOOT, "ishigami": rows, "g_function": g,
                               "posterior": post}, indent=2))
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
