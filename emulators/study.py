"""``twinemu init DIR``: a starter study a modeller edits into their own.

It writes a config tree whose simulator is an external program run as a command (a small
Python script standing in for the modeller's solver), with a design, an emulator and an
experiment, plus the shared groups copied from twinemu's own configs, so ``twinemu run``
runs it from that folder (or ``twinemu run --config-dir DIR/conf`` from anywhere).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from emulators.errors import ConfigError

#: groups copied as they are from twinemu's config tree
COPIED = ("design/lhs.yaml", "design/sobol.yaml", "emulator/gp.yaml",
          "validation/default.yaml", "sensitivity/sobol.yaml", "export/default.yaml",
          "executor/local.yaml", "executor/serial.yaml")

SOLVER = '''\
"""Stand-in for your solver: reads input.yaml, writes result.json.  Replace the command in
conf/simulator/my_solver.yaml with your own program (openBF, svOneDSolver, a C++ code...).

The model: a two-element Windkessel driven by a periodic inflow, mean and pulse pressure.
"""
import json
import math
import sys

p = {}
for line in open(sys.argv[1]):
    if ":" in line:
        k, v = line.split(":", 1)
        p[k.strip()] = float(v)
T = 60.0 / p["HR"]                      # s
Q_mean = p["SV"] * 1e-6 / T             # m^3/s
tau = p["R"] * p["C"]                   # s
p_mean = Q_mean * p["R"] / 133.322      # mmHg
p_pulse = p["SV"] * 1e-6 / p["C"] / 133.322 * (1 - math.exp(-T / tau)) / (1 + math.exp(-T / tau))
json.dump({"pressure": {"mean": p_mean, "pulse": p_pulse}}, open("result.json", "w"))
'''

SIMULATOR = '''\
# Your solver, run as a command in its own work folder for each design point.
_target_: simulators.command.CommandSimulator
name: my_solver
version: "0.1"
fidelity: 0d
command: ["{python}", "solver.py", "{input}"]   # {python}: this Python; {input}: file below
files: [solver.py]                               # copied into each run folder
input:        # $name: a parameter ($name, not ${name}: Hydra would read that)
  file: input.yaml
  template: |
    HR: $HR
    SV: $SV
    R: $R
    C: $C
output: {file: result.json, format: json}
outputs:
  - {name: p_mean, unit: mmHg, key: pressure.mean}
  - {name: p_pulse, unit: mmHg, key: pressure.pulse}
parameters:
  - {name: HR, low: 55.0, high: 100.0, unit: 1/min}
  - {name: SV, low: 50.0, high: 100.0, unit: mL}
  - {name: R, low: 0.8e8, high: 1.6e8, unit: Pa s m^-3}
  - {name: C, low: 0.7e-8, high: 2.2e-8, unit: m^3 Pa^-1, dist: loguniform}
timeout: 60          # seconds before a run is killed and archived as failed
'''

EXPERIMENT = '''\
# @package _global_
# A first experiment: 32 runs of your solver, a GP, checked on 16 held-out runs.
name: first
design:
  n_train: 32
  n_test: 16
sensitivity:
  n: 1024
  n_boot: 100
'''

CONFIG = '''\
# Your study: `twinemu run` from this folder (or `twinemu run --config-dir conf`).
defaults:
  - _self_
  - simulator: my_solver
  - design: lhs
  - emulator: gp
  - validation: default
  - sensitivity: sobol
  - export: default
  - executor: local
  - experiment: first

name: study
seed: 1
emulate: null
archive: null
progress: true
batch_size: null

hydra:
  run:
    dir: outputs/${name}/${now:%Y-%m-%d_%H-%M-%S}
  sweep:
    dir: multirun/${name}/${now:%Y-%m-%d_%H-%M-%S}
    subdir: ${hydra.job.num}
  job:
    chdir: false
'''

README = '''\
# My twinemu study
`twinemu run` (from this folder) runs conf/experiment/first.yaml: solver.py at 32+16 points.
Put your solver in conf/simulator/my_solver.yaml (command, input template, output keys).
`twinemu run design.n_train=64` extends the design and reuses the runs already archived.
The report, metrics and emulator file land in outputs/<name>/<time>/.
'''


def init_study(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write the starter study into ``folder``; returns the files written.

    Raises :class:`ConfigError` if ``folder/conf`` exists (``force`` overwrites).
    """
    from simulators.paths import conf_dir

    folder = Path(folder)
    if (folder / "conf").exists() and not force:
        raise ConfigError(f"{folder / 'conf'} already exists; choose an empty folder (or "
                          f"pass --force to overwrite the starter files)")
    src = conf_dir()
    if not (src / "config.yaml").is_file():
        raise ConfigError(f"twinemu's own configs are missing at {src}; reinstall twinemu")
    written = []
    for rel in COPIED:
        dst = folder / "conf" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst)
        written.append(dst)
    for rel, text in {"conf/config.yaml": CONFIG, "conf/simulator/my_solver.yaml": SIMULATOR,
                      "conf/experiment/first.yaml": EXPERIMENT, "solver.py": SOLVER,
                      "README.md": README}.items():
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text)
        written.append(dst)
    return written
