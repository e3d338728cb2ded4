"""The 1D solver's command line: run a network file (openBF's YAML or ours) to its periodic
state and write the last cycle in openBF's text format plus a table of summary quantities.

    twinemu oned run NETWORK.yaml [--out DIR] [--site NAME=VESSEL:X ...] [options]
    python -m simulators.oned run NETWORK.yaml ...            (the same, without the twinemu CLI)

Files written to ``DIR`` (default: the openBF file's ``output_directory``, else
``<project name>_results`` as openBF does):

``<vessel>_P.last``, ``<vessel>_Q.last`` (and ``_A``, ``_u`` on request)
    openBF's layout (``saveTempData`` in its ``src/IOutils.jl``): one line per sample of the
    last cycle, space separated: the time (s, counted from the start of the run as openBF
    does), then the value at the vessel's inlet, 1/4, 1/2, 3/4 of its length and its outlet
    (openBF takes nodes ``1, M/4, M/2, 3M/4, M``; here the exact fractions).  SI units as
    openBF: P in Pa, Q in m^3/s, A in m^2, u in m/s.
``qoi.json``
    Summary quantities in the units of :class:`~simulators.oned.OneDSimulator` (pressures in
    Pa, flows in mL/s): ``vessels.<label>.<inlet|mid|outlet>.<P_sys|P_dia|P_mean|PP|Q_mean|
    Q_max>`` and ``sites.<name>.<...>`` for each ``--site``; plus ``converged``, ``cycles``,
    ``period`` and the solver options used.  The dotted keys are what a
    :class:`~simulators.command.CommandSimulator` reads (``output: {file: qoi.json}``).
``qoi.csv``
    The same quantities, one row per position (``site, vessel, x, ...``), for a spreadsheet.

Solver options: openBF's ``solver`` block is read where it maps onto ours (``Ccfl`` → CFL,
``cycles`` → the cap on cycles, ``jump`` → samples per cycle); its ``convergence_tolerance``
is not (openBF's criterion differs): the run stops when the cycle-to-cycle RMS pressure
change is below ``--tol`` × pulse pressure at every recorded position.  Flags override.

Exit status: 0 written; 2 bad input (missing or unreadable file, invalid YAML, an openBF
input defect refused under the default ``--strict``, a bad option); 1 the solver failed (an
unstable run, or no periodic state within the cycle cap), with a one-line message.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMAT = "twinemu-oned-qoi/1"
#: Positions of openBF's ``.last`` columns (fractions of the vessel length).
LAST_COLUMNS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Named positions of every vessel in ``qoi.json`` (a subset of :data:`LAST_COLUMNS`).
VESSEL_SITES = {"inlet": 0.0, "mid": 0.5, "outlet": 1.0}
QUANTITIES = ("P_sys", "P_dia", "P_mean", "PP", "Q_mean", "Q_max")
UNITS = {"P_sys": "Pa", "P_dia": "Pa", "P_mean": "Pa", "PP": "Pa", "Q_mean": "mL/s",
         "Q_max": "mL/s"}
WRITABLE = ("P", "Q", "A", "u")
DEFAULT_POINTS = 100   # openBF's default `jump`: samples stored per cycle

DESCRIPTION = """\
Run a 1D arterial network to its periodic state with twinemu's solver and write the last
cycle as openBF does (<vessel>_P.last, <vessel>_Q.last: time, then the values at 0, 1/4,
1/2, 3/4 and 1 of the vessel's length, SI units) and the summary quantities (systolic,
diastolic, mean and pulse pressure in Pa; mean and peak flow in mL/s) of every vessel's
inlet, middle and outlet, and of each --site, in qoi.json and qoi.csv.

NETWORK is an openBF input file (project_name, network, inlet_file, ...; the inflow table is
read relative to it) or a twinemu network file (format: twinemu-oned/1)."""

EPILOG = """\
examples:
  %(prog)s run conf/simulator/networks/boileau_cca.yaml --out outputs/cca
  %(prog)s run cca.yaml                       an openBF file: writes to cca_results/
  %(prog)s run cca.yaml --site mid=common_carotid_artery:0.5 --write P,Q,A,u
  %(prog)s run circle_of_willis.yaml --no-strict     accept openBF quirks, with warnings

openBF's solver block (Ccfl, cycles, jump) sets the CFL number, the cycle cap and the
samples per cycle; --cfl, --max-cycles and --points override them.

exit status: 0 outputs written; 1 solver failure (unstable, or no periodic state);
2 bad input (missing file, invalid YAML, openBF defect refused under --strict)."""


def build_parser(prog: str = "python -m simulators.oned") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("run", help="run a network file to its periodic state, write outputs",
                       description=DESCRIPTION, epilog=EPILOG % {"prog": prog},
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", help="openBF input YAML or twinemu network YAML")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: the file's output_directory, else "
                        "<project name>_results)")
    p.add_argument("--site", action="append", default=[], metavar="NAME=VESSEL:X",
                   help="a named probe at fraction X in [0, 1] of VESSEL's length; repeat")
    p.add_argument("--write", default=None, metavar="P,Q,A,u",
                   help="which .last files to write (default: the file's write_results, "
                        "else P,Q)")
    p.add_argument("--points", type=int, default=None,
                   help=f"samples per cycle (default: openBF's jump, else {DEFAULT_POINTS})")
    p.add_argument("--cfl", type=float, default=None,
                   help="Courant number in (0, 1] (default: openBF's Ccfl, else 0.9)")
    p.add_argument("--max-cycles", type=int, default=None,
                   help="cap on cardiac cycles (default: openBF's cycles, else 30)")
    p.add_argument("--min-cycles", type=int, default=None, help="least cycles run (default 2)")
    p.add_argument("--tol", type=float, default=None,
                   help="periodic-state tolerance: RMS cycle-to-cycle pressure change / pulse "
                        "pressure (default 1e-3)")
    p.add_argument("--refine", type=float, default=1.0,
                   help="multiply every vessel's cell count (default 1)")
    strict = p.add_mutually_exclusive_group()
    strict.add_argument("--strict", dest="strict", action="store_true", default=True,
                        help="refuse openBF input defects (default)")
    strict.add_argument("--no-strict", dest="strict", action="store_false",
                        help="read openBF quirks (spaced 'gamma profile', R1 without R2, "
                             "unsorted inflow table) with a warning each")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m simulators.oned") -> int:
    """Run the command line; returns the exit status (never raises for bad input)."""
    parser = build_parser(prog)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from simulators.errors import ConfigurationError, ParameterError, SimulationError

    err = f"{prog} {args.command}: error:"
    status, message, doc = EXIT_OK, "", {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            doc = run(args.network, out=args.out, sites=args.site, write=args.write,
                      points=args.points, cfl=args.cfl, max_cycles=args.max_cycles,
                      min_cycles=args.min_cycles, tol=args.tol, refine=args.refine,
                      strict=args.strict)
        except (ConfigurationError, ParameterError) as exc:   # the importer's API hint → flag
            status, message = EXIT_USAGE, f"{err} " + str(exc).replace(
                "load with strict=False", "run with --no-strict")
        except SimulationError as exc:
            status, message = EXIT_FAILED, f"{err} solver failed: {exc}"
        except OSError as exc:
            status, message = EXIT_USAGE, f"{err} cannot write outputs: {exc}"
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if status != EXIT_OK:
        print(" ".join(message.split()), file=sys.stderr)     # one line, whatever the cause
        return status
    if not args.quiet:
        print(f"{doc['network']}: periodic after {doc['cycles']} cycles "
              f"(T = {doc['period']:g} s); wrote {len(doc['files'])} files to {doc['out']}")
    return EXIT_OK


def parse_site(text: str) -> tuple[str, str, float]:
    """``NAME=VESSEL:X`` → (name, vessel, x); raises ConfigurationError when malformed."""
    from simulators.errors import ConfigurationError

    name, eq, rest = text.partition("=")
    vessel, colon, x = rest.rpartition(":")
    try:
        frac = float(x)
    except ValueError:
        frac = math.nan
    if not (eq and colon and name and vessel) or not 0.0 <= frac <= 1.0:
        raise ConfigurationError(f"--site {text!r}: expected NAME=VESSEL:X with X in [0, 1], "
                                 f"e.g. mid=common_carotid_artery:0.5")
    return name, vessel, frac


def _solver_options(meta_solver: Mapping[str, Any], points: int | None, cfl: float | None,
                    max_cycles: int | None, min_cycles: int | None, tol: float | None
                    ) -> dict[str, Any]:
    """Our solver options from openBF's ``solver`` block and the flags (flags win)."""
    from simulators.errors import ConfigurationError
    from simulators.oned.solver import DEFAULTS

    obf = dict(meta_solver or {})

    def pick(flag, key, default, kind):
        if flag is not None:
            return flag
        if key in obf:
            try:
                val = kind(obf[key])
            except (TypeError, ValueError):
                raise ConfigurationError(f"openBF solver.{key}={obf[key]!r} is not a number"
                                         ) from None
            if kind is int and val != obf[key]:
                raise ConfigurationError(f"openBF solver.{key}={obf[key]!r} must be a whole "
                                         f"number")
            return val
        return default

    opts = {"cfl": pick(cfl, "Ccfl", DEFAULTS["cfl"], float),
            "max_cycles": pick(max_cycles, "cycles", DEFAULTS["max_cycles"], int),
            "min_cycles": min_cycles if min_cycles is not None else DEFAULTS["min_cycles"],
            "tol": tol if tol is not None else DEFAULTS["tol"],
            "record_points": pick(points, "jump", DEFAULT_POINTS, int)}
    opts["min_cycles"] = min(opts["min_cycles"], opts["max_cycles"]) if min_cycles is None \
        else opts["min_cycles"]
    return opts


def run(network: str | Path, *, out: str | Path | None = None, sites: Sequence[str] = (),
        write: str | None = None, points: int | None = None, cfl: float | None = None,
        max_cycles: int | None = None, min_cycles: int | None = None,
        tol: float | None = None, refine: float = 1.0, strict: bool = True) -> dict[str, Any]:
    """Run ``network`` to its periodic state and write the outputs (see the module docstring).

    Returns the ``qoi.json`` document plus ``out`` (the folder) and ``files`` (written).
    Raises :class:`ConfigurationError` for bad input and :class:`SimulationError` when the
    solver fails or finds no periodic state.
    """
    import yaml

    from simulators.errors import ConfigurationError, SimulationError
    from simulators.oned.io import load_network
    from simulators.oned.record import flow_summary, pressure_summary
    from simulators.oned.solver import simulate
    from simulators.units import ML

    path = Path(network)
    if not path.is_file():
        raise ConfigurationError(f"network file {path} not found")
    net = load_network(path, strict=strict)
    if refine != 1.0:
        if not (math.isfinite(refine) and refine > 0):
            raise ConfigurationError(f"--refine={refine} must be a number > 0")
        net = net.with_resolution(float(refine))
    raw = yaml.safe_load(path.read_text())       # read again for openBF's output keys
    is_openbf = "project_name" in raw
    which = _which(write if write is not None else raw.get("write_results") if is_openbf
                   else None)
    named = [parse_site(s) for s in sites]
    for _, vessel, _ in named:
        net.vessel(vessel)                         # ConfigurationError naming the labels
    if len({n for n, _, _ in named}) != len(named):
        raise ConfigurationError("--site: each NAME must be given once")
    opts = _solver_options(net.meta.get("openbf_solver", {}), points, cfl, max_cycles,
                           min_cycles, tol)
    probes = [(v.label, x) for v in net.vessels for x in LAST_COLUMNS]
    probes += [(vessel, x) for _, vessel, x in named]
    sol = simulate(net, sites=probes, **opts)
    if not sol.converged:
        change = np.nanmax(sol.change) if np.isfinite(sol.change).any() else math.nan
        raise SimulationError(f"{net.name}: no periodic state after {sol.cycles} cycles "
                              f"(largest cycle-to-cycle change {change:.3g} of pulse pressure "
                              f"> tol {opts['tol']:g}); raise --max-cycles or --tol")

    def summary(k: int) -> dict[str, float]:
        return {**pressure_summary(sol.P[k]), **flow_summary(sol.Q[k] / ML)}

    nper = len(LAST_COLUMNS)
    vessels = {v.label: {pos: summary(iv * nper + LAST_COLUMNS.index(x))
                         for pos, x in VESSEL_SITES.items()}
               for iv, v in enumerate(net.vessels)}
    site_doc = {name: {"vessel": vessel, "x": x, **summary(len(net.vessels) * nper + k)}
                for k, (name, vessel, x) in enumerate(named)}
    folder = Path(out) if out is not None else _default_out(path, raw, net.name, is_openbf)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    t = (sol.cycles - 1) * sol.period + sol.t      # openBF counts time from the run's start
    fields = {"P": sol.P, "Q": sol.Q, "A": sol.A, "u": sol.Q / sol.A}
    for iv, v in enumerate(net.vessels):
        for q in which:
            block = fields[q][iv * nper:(iv + 1) * nper]          # (5, T)
            f = folder / f"{v.label}_{q}.last"
            np.savetxt(f, np.column_stack([t, block.T]), fmt="%.17g", delimiter=" ")
            files.append(f.name)
    doc: dict[str, Any] = {
        "format": FORMAT, "network": net.name, "input": str(path),
        "converged": bool(sol.converged), "cycles": int(sol.cycles),
        "period": float(sol.period), "units": UNITS,
        "solver": {k: opts[k] for k in ("cfl", "max_cycles", "min_cycles", "tol")},
        "points_per_cycle": int(opts["record_points"]),
        "vessels": vessels, "sites": site_doc}
    (folder / "qoi.json").write_text(json.dumps(doc, indent=1))
    with open(folder / "qoi.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["site", "vessel", "x", *QUANTITIES])
        for label, d in vessels.items():
            for pos, x in VESSEL_SITES.items():
                w.writerow([f"{label}.{pos}", label, x, *(repr(d[pos][q]) for q in QUANTITIES)])
        for name, d in site_doc.items():
            w.writerow([name, d["vessel"], d["x"], *(repr(d[q]) for q in QUANTITIES)])
    files += ["qoi.json", "qoi.csv"]
    return {**doc, "out": str(folder), "files": files}


def _which(write: Any) -> list[str]:
    from simulators.errors import ConfigurationError

    if write is None:
        return ["P", "Q"]
    items = [s.strip() for s in write.split(",")] if isinstance(write, str) else list(write)
    if "c" in items:
        warnings.warn("wave speed files (_c.last) are not written by this solver's CLI",
                      UserWarning, stacklevel=3)
        items = [s for s in items if s != "c"]
    bad = [s for s in items if s not in WRITABLE]
    if bad:
        raise ConfigurationError(f"write_results/--write: {bad} not among {list(WRITABLE)}")
    return list(dict.fromkeys(items))


def _default_out(path: Path, raw: Mapping, name: str, is_openbf: bool) -> Path:
    if is_openbf and raw.get("output_directory"):
        return Path(str(raw["output_directory"]))
    return Path(f"{raw.get('project_name', name) if is_openbf else name}_results")
