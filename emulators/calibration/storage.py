"""Write a :class:`CalibrationResult` as NetCDF4 in ArviZ's InferenceData layout (h5netcdf).

Layout (as ``arviz.InferenceData.to_netcdf`` writes it): one HDF5 group per InferenceData
group, each a NetCDF4 dataset with dimensions ``chain`` and ``draw`` and their coordinate
variables; the root holds no data.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np


def _h5netcdf():
    try:
        import h5netcdf
    except ImportError as exc:  # pragma: no cover - h5netcdf is a dependency of calibration
        raise ImportError("writing calibration samples needs h5netcdf (pip install h5netcdf)"
                          ) from exc
    return h5netcdf


def write_inference_data(result: Any, path: Path) -> Path:
    h5netcdf = _h5netcdf()
    path.parent.mkdir(parents=True, exist_ok=True)
    chains, draws, _ = result.theta.shape
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    with h5netcdf.File(path, "w") as f:
        post = f.create_group("posterior")
        _chain_draw(post, chains, draws)
        for j, name in enumerate(result.names):
            v = post.create_variable(name, ("chain", "draw"), data=result.theta[:, :, j])
            v.attrs["units"] = result.units[j]
        for j, name in enumerate(result.hyper_names):
            post.create_variable(name, ("chain", "draw"), data=result.hyper[:, :, j])
        post.attrs["created_at"] = created
        post.attrs["inference_library"] = "emcee"
        post.attrs["twinemu_converged"] = int(result.converged)
        post.attrs["twinemu_rhat"] = json.dumps(result.rhat)
        post.attrs["twinemu_ess"] = json.dumps(result.ess)
        post.attrs["twinemu_contraction"] = json.dumps(result.contraction)
        post.attrs["twinemu_discrepancy"] = int(result.discrepancy)
        stats = f.create_group("sample_stats")
        _chain_draw(stats, chains, draws)
        stats.create_variable("lp", ("chain", "draw"), data=result.log_prob)
        stats.attrs["created_at"] = created
        obs = f.create_group("observed_data")
        for name, o in result.data.items():
            dim = f"{name}_dim_0"
            obs.dimensions[dim] = len(o)
            v = obs.create_variable(name, (dim,), data=np.asarray(o.values, dtype=float))
            v.attrs["units"] = o.unit
            v.attrs["noise_sd"] = np.asarray(o.sd, dtype=float)
            if o.index is not None:
                v.attrs["phase"] = np.asarray(o.index, dtype=float)
        obs.attrs["created_at"] = created
    return path


def _chain_draw(group: Any, chains: int, draws: int) -> None:
    group.dimensions["chain"] = chains
    group.dimensions["draw"] = draws
    group.create_variable("chain", ("chain",), data=np.arange(chains, dtype=np.int64))
    group.create_variable("draw", ("draw",), data=np.arange(draws, dtype=np.int64))
