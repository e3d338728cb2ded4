"""An external solver run as a command: openBF, svOneDSolver, SimVascular, OpenFOAM, a lab's
C++ code — anything that reads an input file (or arguments) and writes an output file.

Each run happens in its own work folder:

1. the input file is rendered from a template (``$name`` placeholders, :class:`string.Template`,
   so YAML/JSON/INI/text braces are left alone; in a Hydra config write ``$name``, not
   ``${name}``, which Hydra would interpolate) or written from the parameters as
   JSON / YAML / INI / ``name = value`` text;
2. the command (a list of arguments, never a shell) runs there with a timeout; arguments
   may hold ``{name}`` placeholders: the parameters, ``{input}`` (the rendered file),
   ``{workdir}`` and ``{python}`` (this interpreter);
3. the outputs are parsed from the solver's output file: CSV columns, JSON keys (dotted
   paths) or HDF5 datasets.  A column/array of one value is a scalar; ``shape: [T]``
   outputs are waveforms of ``T`` points.

A non-zero exit, a timeout, a missing or unparsable output file raises
:class:`~simulators.errors.SimulationError` whose reason carries the exit code and the last
lines of the solver's stderr, so the campaign archives *why* a run failed; the work folder
of a failed run is kept (``keep="failed"``, the default) for a post-mortem.

Example (``conf/simulator/command_example.yaml`` in the starter study of ``twinemu init``)::

    _target_: simulators.command.CommandSimulator
    command: ["{python}", "solver.py", "{input}"]
    files: [solver.py]
    parameters: [{name: R, low: 1.0, high: 2.0}]
    input: {file: input.yaml, template: "resistance: $R\\n"}
    output: {file: result.json, format: json}
    outputs: [{name: p_mean, unit: mmHg, key: pressure.mean}]
    timeout: 60
"""

from __future__ import annotations

import configparser
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulators.base import OutputSpec
from simulators.design import ParameterSpace
from simulators.errors import ConfigurationError, SimulationError

INPUT_FORMATS = ("template", "json", "yaml", "ini", "text")
OUTPUT_FORMATS = ("csv", "json", "hdf5")
STDERR_TAIL_LINES = 8


class CommandSimulator:
    """A simulator that runs an external command once per design point.

    Parameters
    ----------
    command : list of str
        The program and its arguments, ``{name}`` placeholders formatted per run (see the
        module docstring).  Run without a shell.
    parameters : list of dict
        The parameter space (``name, low, high[, unit, dist]``), as for every simulator.
    outputs : list of dict
        ``{name, unit, shape, key}``: ``key`` is the CSV column, JSON dotted path or HDF5
        dataset holding it (default: the name).
    output : dict
        ``{file, format}``: the solver's output file (relative to the work folder) and its
        format, one of ``csv``, ``json``, ``hdf5`` (default: from the file suffix).
    input : dict, optional
        ``{file, template | template_file | format}``: the input file to write.  With a
        template, ``${name}`` placeholders are the parameters (and ``fixed``); otherwise
        the parameters are written as ``json``, ``yaml``, ``ini`` or ``text``.
    fixed : dict, optional
        Constants available to the template and the command like parameters.
    files : list of str, optional
        Files copied into each work folder (e.g. the solver's script or mesh); relative
        paths are taken from the current folder, else from the study folder (the parent
        of the config folder ``twinemu run`` uses, ``$TWINEMU_CONFIG_DIR``), else from
        twinemu's config tree (as network files: ``simulator/networks/...``).
    timeout : float
        Seconds a run may take before it is killed (with its child processes).
    workdir : str, optional
        Where run folders go (default: a temporary folder).
    keep : {"failed", "all", "none"}
        Which run folders survive the run.
    name, version, fidelity : str
        Recorded in each run's provenance.
    """

    def __init__(self, command: Sequence[str], parameters: Sequence[Mapping[str, Any]],
                 outputs: Sequence[Mapping[str, Any] | str], output: Mapping[str, Any], *,
                 input: Mapping[str, Any] | None = None,  # noqa: A002 - config key
                 fixed: Mapping[str, Any] | None = None, files: Sequence[str] = (),
                 timeout: float = 600.0, workdir: str | None = None, keep: str = "failed",
                 env: Mapping[str, str] | None = None, name: str = "command",
                 version: str = "1", fidelity: str = "external"):
        if isinstance(command, str) or not command:
            raise ConfigurationError(
                "command must be a non-empty list of arguments, e.g. ['openBF', '{input}'] "
                "(it runs without a shell, so a single string is not split)")
        self.command = [str(c) for c in command]
        self.space = ParameterSpace(parameters)
        self.outputs = [OutputSpec(o, "", ()) if isinstance(o, str) else
                        OutputSpec(o["name"], o.get("unit", ""), tuple(o.get("shape", ())),
                                   o.get("description", "")) for o in outputs]
        self.keys = {o if isinstance(o, str) else o["name"]:
                     (o if isinstance(o, str) else str(o.get("key", o["name"])))
                     for o in outputs}
        if not isinstance(output, Mapping) or "file" not in output:
            raise ConfigurationError("output needs {file: <the solver's output file>, "
                                     "format: csv|json|hdf5}")
        self.output_file = str(output["file"])
        fmt = str(output.get("format") or _suffix_format(self.output_file))
        if fmt not in OUTPUT_FORMATS:
            raise ConfigurationError(f"output format {fmt!r} is not one of {OUTPUT_FORMATS}")
        self.output_format = fmt
        self.input = dict(input or {})
        if self.input:
            if "file" not in self.input:
                raise ConfigurationError("input needs {file: <name of the file to write>}")
            if "template_file" in self.input:
                self.input["template"] = Path(self.input.pop("template_file")).read_text()
            ifmt = "template" if "template" in self.input else str(
                self.input.get("format", "json"))
            if ifmt not in INPUT_FORMATS:
                raise ConfigurationError(f"input format {ifmt!r} is not one of "
                                         f"{INPUT_FORMATS}")
            self.input["format"] = ifmt
        self.fixed = dict(fixed or {})
        self.files = [str(_find(f)) for f in files]
        missing = [f for f in self.files if not Path(f).is_file()]
        if missing:
            raise ConfigurationError(f"files to copy into each run folder not found: {missing}")
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive seconds, got {timeout}")
        self.timeout = float(timeout)
        if keep not in ("failed", "all", "none"):
            raise ConfigurationError(f"keep must be 'failed', 'all' or 'none', got {keep!r}")
        self.keep = keep
        self.workdir = str(Path(workdir).resolve()) if workdir else None
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.name, self.version, self.fidelity = str(name), str(version), str(fidelity)
        known = [*self.space.names, *self.fixed, "input", "workdir", "python"]
        for arg in self.command:
            try:
                used = [f for _, f, _, _ in string.Formatter().parse(arg) if f is not None]
            except ValueError as exc:
                raise ConfigurationError(f"command argument {arg!r}: {exc} (write a literal "
                                         f"brace as {{{{ or }}}})") from None
            bad = [f for f in used if f not in known]
            if bad:
                raise ConfigurationError(f"command placeholder {bad[0]!r} is not one of "
                                         f"{', '.join(known)}")

    def config(self) -> dict[str, Any]:
        digest = {f: hashlib.sha256(Path(f).read_bytes()).hexdigest()[:16] for f in self.files}
        return {"simulator": self.name, "version": self.version, "command": self.command,
                "space": self.space.to_dict(), "input": self.input, "output_file":
                self.output_file, "fixed": self.fixed, "files": digest}

    # -- one run ---------------------------------------------------------------------------
    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        values = {**self.fixed, **{k: float(params[k]) for k in self.space.names}}
        key = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
        base = Path(self.workdir or tempfile.gettempdir()) / f"twinemu-{self.name}"
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"run-{key}-", dir=base))
        ok = False
        try:
            out = self._run_in(folder, values, params)
            ok = True
            return out
        finally:
            if self.keep == "none" or (self.keep == "failed" and ok):
                shutil.rmtree(folder, ignore_errors=True)

    def _run_in(self, folder: Path, values: dict[str, Any], params: Mapping[str, float]
                ) -> dict[str, np.ndarray]:
        for f in self.files:
            shutil.copy2(f, folder / Path(f).name)
        fields = {**values, "workdir": str(folder), "python": sys.executable}
        if self.input:
            path = folder / self.input["file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self._render(values))
            fields["input"] = str(path)
        try:
            argv = [a.format(**fields) for a in self.command]
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigurationError(f"command placeholder {exc} is not a parameter, a fixed "
                                     f"value, nor one of input, workdir, python") from exc
        t0 = time.perf_counter()
        rc, stderr = _run(argv, folder, self.timeout, {**os.environ, **self.env})
        where = f"run folder {folder}" if self.keep != "none" else "run folder removed"
        if rc is None:
            raise SimulationError(f"{self.name} timed out after {self.timeout:g} s (killed); "
                                  f"{where}{_tail(stderr)}", params)
        if rc != 0:
            raise SimulationError(f"{self.name} exited with code {rc}; {where}{_tail(stderr)}",
                                  params)
        out_path = folder / self.output_file
        if not out_path.is_file():
            raise SimulationError(f"{self.name} exited 0 after {time.perf_counter() - t0:.1f} s "
                                  f"but wrote no {self.output_file}; {where}{_tail(stderr)}",
                                  params)
        try:
            raw = _READERS[self.output_format](out_path, list(self.keys.values()))
            return {spec.name: self._shaped(spec, raw[self.keys[spec.name]])
                    for spec in self.outputs}
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise SimulationError(f"{self.name}: cannot read {self.output_file} "
                                  f"({self.output_format}): {exc}; {where}", params) from None

    def _render(self, values: Mapping[str, Any]) -> str:
        fmt = self.input["format"]
        if fmt == "template":
            try:
                return string.Template(str(self.input["template"])).substitute(
                    {k: repr(v) if isinstance(v, float) else str(v) for k, v in values.items()})
            except (KeyError, ValueError) as exc:
                raise ConfigurationError(f"input template placeholder {exc} is not a "
                                         f"parameter nor a fixed value") from exc
        if fmt == "json":
            return json.dumps(values, indent=1)
        if fmt == "yaml":
            import yaml

            return yaml.safe_dump(values, sort_keys=False)
        if fmt == "ini":
            cp = configparser.ConfigParser()
            cp["parameters"] = {k: repr(v) if isinstance(v, float) else str(v)
                                for k, v in values.items()}
            buf = io.StringIO()
            cp.write(buf)
            return buf.getvalue()
        return "".join(f"{k} = {v!r}\n" for k, v in values.items())

    @staticmethod
    def _shaped(spec: OutputSpec, value: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=float)
        if spec.shape == ():
            if arr.size != 1:
                raise ValueError(f"output {spec.name!r} is a scalar but the file holds "
                                 f"{arr.size} values")
            arr = arr.reshape(())
        elif arr.shape != spec.shape:
            raise ValueError(f"output {spec.name!r} should have shape {spec.shape}, the file "
                             f"holds {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"output {spec.name!r} holds non-finite values")
        return arr


def _find(file: str) -> Path:
    path = Path(file)
    if path.is_absolute() or path.exists():
        return path.resolve()
    conf = os.environ.get("TWINEMU_CONFIG_DIR")
    if conf and (Path(conf).parent / path).exists():
        return (Path(conf).parent / path).resolve()
    from simulators.paths import conf_dir  # as network files: relative to twinemu's conf/

    if (conf_dir() / path).exists():
        return (conf_dir() / path).resolve()
    return path.resolve()


def _run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str]
         ) -> tuple[int | None, str]:
    """Run ``argv`` in ``cwd``; exit code and stderr (``None`` code: killed on timeout)."""
    err_path = cwd / "stderr.txt"
    with open(cwd / "stdout.txt", "wb") as out, open(err_path, "wb") as err:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return 127, f"cannot start {argv[0]!r}: {exc}"
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc = None
        except BaseException:  # Ctrl-C: take the solver (and its children) down with us
            _kill_group(proc)
            raise
    return rc, err_path.read_text(errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _tail(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()][-STDERR_TAIL_LINES:]
    return "; stderr tail: " + " | ".join(ln.strip()[:200] for ln in lines) if lines else ""


def _suffix_format(file: str) -> str:
    suffix = Path(file).suffix.lower()
    return {".csv": "csv", ".json": "json", ".h5": "hdf5", ".hdf5": "hdf5"}.get(suffix, suffix)


def _read_csv(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    rows = list(csv.reader(path.read_text().splitlines()))
    if len(rows) < 2:
        raise ValueError("needs a header row and at least one row of numbers")
    header = [h.strip() for h in rows[0]]
    missing = [k for k in keys if k not in header]
    if missing:
        raise ValueError(f"columns {missing} not in the header {header}")
    data = np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=float)
    return {k: data[:, header.index(k)] for k in keys}


def _read_json(path: Path, keys: list[str]) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    out = {}
    for k in keys:
        node: Any = doc
        for part in k.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ValueError(f"key {k!r} not found")
            node = node[part]
        out[k] = node
    return out


def _read_hdf5(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        out = {}
        for k in keys:
            if k not in f or not isinstance(f[k], h5py.Dataset):
                raise ValueError(f"dataset {k!r} not found")
            out[k] = np.asarray(f[k][()], dtype=float)
        return out


_READERS = {"csv": _read_csv, "json": _read_json, "hdf5": _read_hdf5}
