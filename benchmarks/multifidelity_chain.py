"""Multi-fidelity benchmark on the 0D→1D chain: ours against the peers on simulated runs.

The fidelity-chain experiment (default ``mf_oned_cca``: 64 runs of the lumped 0D twin of
the 1D common carotid, 8 1D runs on a subset of their points, 24 held-out 1D runs) is
simulated once per design (``seed`` = 0, 1, …: a new nested design and held-out set each),
through the pipeline's own levels stage, so the data are exactly what ``twinemu run`` fits.
Every method of :mod:`benchmarks.multifidelity` (ours linear and nonlinear, emukit's linear
and nonlinear models, SMT's MFK, a GP on the 1D runs alone) is then fitted to each scalar
output on its own (standardised by the training runs, for every method alike), and scored
on the held-out 1D runs: R² and 95% coverage pooled over designs, fit and predict time.
The campaign archives go to ``--workdir`` (a temporary folder by default; a kept one
resumes).

Run: ``python benchmarks/multifidelity_chain.py [--designs 5] [--experiment mf_oned_cca]``;
prints a table per output and writes ``benchmarks/results/multifidelity_chain.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this checkout's packages, not an editable install of another one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.multifidelity import available, print_table, score  # noqa: E402
from emulators.pipeline import stages  # noqa: E402
from emulators.pipeline.run import resolve_config  # noqa: E402
from emulators.pipeline.schemas import validate  # noqa: E402
from emulators.pipeline.targets import check_targets  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "multifidelity_chain.json"


def simulate(experiment: str, seed: int, workdir: Path) -> stages.Data:
    """The experiment's two levels and held-out top-level runs for one ``seed``."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(stages.conf_dir()), version_base="1.3"):
        conf = resolve_config(compose("config", overrides=[
            f"experiment={experiment}", f"seed={seed}", "progress=false"]))
    check_targets(conf)
    cfg = validate(conf)
    sims = stages.build_simulators(cfg)
    stages.check_outputs(cfg, sims)
    return stages.run_levels(cfg, sims, workdir)


def main(designs: int = 5, experiment: str = "mf_oned_cca", workdir: Path | None = None
         ) -> dict:
    methods, skipped = available()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        t0 = time.perf_counter()
        data = [simulate(experiment, s, root) for s in range(designs)]
        sim_s = time.perf_counter() - t0
    lo, hi = data[0].training.levels[0], data[0].training.levels[-1]
    scalars = [k for k, y in data[0].Y_test.items() if np.asarray(y).ndim == 1
               or np.asarray(y).shape[1] == 1]
    results = {"machine": platform.processor() or platform.machine(), "seeds": designs,
               "experiment": experiment, "levels": [lo.fidelity, hi.fidelity],
               "n_low": lo.n, "n_high": hi.n, "held_out": len(data[0].X_test),
               "simulation_s": sim_s, "skipped": skipped, "pairs": {}}
    for k in scalars:
        def cases(k=k):
            for d in data:
                a, b = d.training.levels[0], d.training.levels[-1]
                ya, yb, yt = (np.ravel(y[k]) for y in (a.Y, b.Y, d.Y_test))
                # standardised by the training runs for every method alike (GPy's unit
                # kernel variance cannot start from pressures of ~1e4 Pa); R² and coverage
                # are unchanged by it
                c, s = np.concatenate([ya, yb]).mean(), np.concatenate([ya, yb]).std()
                yield d.space, a.X, (ya - c) / s, b.X, (yb - c) / s, d.X_test, (yt - c) / s
        results["pairs"][k] = {"methods": {m: score(m, cases()) for m in methods}}
    print(f"{experiment}: {lo.n} {lo.fidelity} + {hi.n} {hi.fidelity} runs, "
          f"{results['held_out']} held out, {designs} designs (simulated in {sim_s:.0f} s)")
    print_table(results, label="output")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=5)
    parser.add_argument("--experiment", default="mf_oned_cca")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the campaign archives here (resumed on a rerun)")
    args = parser.parse_args()
    main(args.designs, args.experiment, args.workdir)
