"""Config targets are a registry of classes: YAML can build these, and nothing else.

A ``_target_`` must be a name in :data:`REGISTRY` (twinemu's simulators, executors and
emulators) or a class a user registered through the ``twinemu.targets`` entry-point group
of an installed package::

    [project.entry-points."twinemu.targets"]
    mylab.PulseSimulator = "mylab.sim:PulseSimulator"

and then ``_target_: mylab.PulseSimulator`` in a config.  The check happens on the target
*text*, before any import, so a config cannot import a module of its choosing (module
code runs on import); the resolved object must then be a class.  Functions are never
targets: ``emulators.runtime.write_file`` wrote a ``.pth`` file into site-packages when
functions were allowed.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from emulators.errors import ConfigError

#: target text → "module:attribute" of a twinemu class that configs may build.
REGISTRY: dict[str, str] = {
    "simulators.zerod.WindkesselSimulator": "simulators.zerod:WindkesselSimulator",
    "simulators.oned.OneDSimulator": "simulators.oned:OneDSimulator",
    "simulators.oned.LumpedNetworkSimulator": "simulators.oned:LumpedNetworkSimulator",
    "simulators.testfunctions.IshigamiSimulator": "simulators.testfunctions:IshigamiSimulator",
    "simulators.testfunctions.PoiseuilleSimulator":
        "simulators.testfunctions:PoiseuilleSimulator",
    "simulators.command.CommandSimulator": "simulators.command:CommandSimulator",
    "simulators.executors.LocalExecutor": "simulators.executors:LocalExecutor",
    "simulators.executors.SerialExecutor": "simulators.executors:SerialExecutor",
    "simulators.executors.DaskExecutor": "simulators.executors:DaskExecutor",
    "simulators.executors.SlurmExecutor": "simulators.executors:SlurmExecutor",
    "emulators.GaussianProcess": "emulators.gp:GaussianProcess",
    "emulators.MultiFidelityGP": "emulators.mfgp:MultiFidelityGP",
    "emulators.NeuralEnsemble": "emulators.neural:NeuralEnsemble",
}

ENTRY_POINT_GROUP = "twinemu.targets"


def registered() -> dict[str, str]:
    """twinemu's targets plus those installed packages register (entry points)."""
    from importlib.metadata import entry_points

    out = dict(REGISTRY)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out.setdefault(ep.name, ep.value)
    return out


def resolve(target: str, where: str) -> type:
    """The registered class named ``target``; :class:`ConfigError` for anything else."""
    table = registered()
    if target not in table:
        raise ConfigError(
            f"_target_ {target!r} at '{where}' is not allowed: configs may build registered "
            f"classes only ({', '.join(sorted(table))}); register your own class through "
            f"the '{ENTRY_POINT_GROUP}' entry-point group of your package")
    module, _, attr = table[target].partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"_target_ {target!r} at '{where}' is registered but cannot be "
                          f"imported ({type(exc).__name__}: {exc})") from exc
    if not inspect.isclass(obj):
        raise ConfigError(f"_target_ {target!r} at '{where}' is not a class; configs build "
                          f"classes only")
    return obj


def check_targets(node: Any, path: str = "") -> None:
    """Refuse any ``_target_`` in the tree that is not a registered class (and any Hydra
    ``_call_``/``_partial_`` tricks that would call something else)."""
    if isinstance(node, dict):
        where = path or "<root>"
        for key in ("_partial_", "_args_"):
            if key in node:
                raise ConfigError(f"'{key}' at '{where}' is not supported in twinemu configs")
        if "_target_" in node:
            resolve(str(node["_target_"]), where)
        for k, v in node.items():
            check_targets(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            check_targets(v, f"{path}[{i}]")


def instantiate(node: dict[str, Any], where: str) -> Any:
    """Build a checked ``_target_`` node (its nested targets too), turning bad arguments
    into :class:`ConfigError`."""
    if not isinstance(node, dict) or "_target_" not in node:
        raise ConfigError(f"'{where}' needs a _target_ naming the class to build")
    check_targets(node, where)
    return _build(node, where)


def _build(node: Any, where: str) -> Any:
    if isinstance(node, list):
        return [_build(v, f"{where}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    kwargs = {k: _build(v, f"{where}.{k}") for k, v in node.items()
              if k not in ("_target_", "_convert_", "_recursive_")}
    if "_target_" not in node:
        return kwargs
    cls = resolve(str(node["_target_"]), where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot build '{where}' ({node['_target_']}): {exc}") from exc
