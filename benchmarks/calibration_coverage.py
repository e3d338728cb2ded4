"""Coverage of KOH calibration over repeated synthetic patients (different noise seeds).

    python benchmarks/calibration_coverage.py [--trials 20] [--oned EMULATOR_FILE]
        [--out benchmarks/results/calibration_coverage.json]

(a) Windkessel twin (the tests' GP on R_p, C and an input without influence): the share of
trials whose 95% credible interval contains the truth, with and without the discrepancy,
and the same under a smooth systematic bias (500 Pa sinusoid).  (b) With ``--oned``, an
emulator file exported by ``twinemu run experiment=calibrate_oned_cca``: the 1D solver makes
the patient at R2_scale = 1.15, C_scale = 0.85 once and each trial adds 1 mmHg noise.
Prints tables and writes JSON.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emulators.calibration import calibrate  # noqa: E402
from tests.emulators.calibration.conftest import TRUTH, WindkesselTwin  # noqa: E402


def trials(emulator, make_obs, truth, n, *, discrepancy, steps, walkers):
    hits = {k: 0 for k in truth}
    conv, width, t0 = 0, {k: [] for k in truth}, time.perf_counter()
    for s in range(n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = calibrate(emulator, make_obs(s), discrepancy=discrepancy, steps=steps,
                          walkers=walkers, seed=s)
        ci = r.interval()
        for k, ok in r.covers(truth).items():
            hits[k] += ok
            width[k].append(ci[k][1] - ci[k][0])
        conv += r.converged
    return {"coverage": {k: v / n for k, v in hits.items()}, "converged": conv / n,
            "mean_width": {k: float(np.mean(v)) for k, v in width.items()},
            "seconds_per_trial": (time.perf_counter() - t0) / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--oned", default=None, help="emulator file of calibrate_oned_cca")
    ap.add_argument("--skip-windkessel", action="store_true")
    ap.add_argument("--oned-steps", type=int, default=1000)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/calibration_coverage.json"))
    args = ap.parse_args()
    res = {}
    if not args.skip_windkessel:
        twin = WindkesselTwin()
        theta = {k: TRUTH[k] for k in ("R_p", "C")}
        bias = 500.0 * np.sin(2 * np.pi * np.arange(50) / 50)
        for label, b in (("unbiased", 0.0), ("sinusoid bias 500 Pa", bias)):
            for disc in (True, False):
                key = f"windkessel, {label}, {'KOH' if disc else 'no discrepancy'}"
                res[key] = trials(twin.gp, lambda s, b=b: twin.observations(seed=s, bias=b),
                                  theta, args.trials, discrepancy=disc, steps=1000, walkers=24)
                print(key, res[key], flush=True)
                _save(args, res)
    if args.oned:
        from emulators import runtime
        from simulators.oned import OneDSimulator

        emu = runtime.load(args.oned)
        sim = OneDSimulator("simulator/networks/boileau_cca.yaml", parameters=[
            {"name": "R2_scale", "low": 0.7, "high": 1.3, "target": "outlets.*.R2:scale"},
            {"name": "C_scale", "low": 0.7, "high": 1.3, "target": "outlets.*.C:scale"}],
            sites={"inlet": {"vessel": "common_carotid_artery", "x": 0.0}},
            outputs=["P_wave"], refine=0.5, phase_points=100,
            solver={"cfl": 0.9, "max_cycles": 30, "min_cycles": 2, "tol": 1.0e-3})
        truth = {"R2_scale": 1.15, "C_scale": 0.85}
        clean = sim(truth)["P_wave_inlet"]

        def obs(s):
            z = clean + 133.3 * np.random.default_rng(1000 + s).standard_normal(clean.size)
            return {"outputs": {"P_wave_inlet": {"values": z.tolist(), "unit": "Pa",
                                                 "sd": 133.3}}}

        for disc in (False, True):
            key = f"1D carotid, {'KOH' if disc else 'no discrepancy'}"
            res[key] = trials(emu, obs, truth, args.trials, discrepancy=disc,
                              steps=args.oned_steps, walkers=24)
            print(key, res[key], flush=True)
            _save(args, res)
    print(f"\n{'case':<50} {'coverage (95% CI) per parameter':<40} {'converged':>9}")
    for k, v in res.items():
        cov = ", ".join(f"{p} {100 * c:.0f}%" for p, c in v["coverage"].items())
        print(f"{k:<50} {cov:<40} {100 * v['converged']:>8.0f}%")
    _save(args, res)


def _save(args, res) -> None:
    """Write after every case (merging with the cases already in the file)."""
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text())["results"] if path.exists() else {}
    path.write_text(json.dumps({"trials": args.trials, "results": {**old, **res}}, indent=2))


if __name__ == "__main__":
    main()
