"""Benchmark the 3D CFD adapters and QoIs: read speed on the reference files (against meshio
where meshio can read the file) and wall-shear-stress accuracy on Poiseuille pipes.

    python benchmarks/cfd_adapters.py [--data ../shared/data] [--out outputs/bench/cfd.json]

Prints two tables and writes JSON.  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datasets import adapters  # noqa: E402
from datasets.adapters.base import Mesh  # noqa: E402
from datasets.adapters.memory import MemorySource  # noqa: E402
from datasets.qoi import QoISpec, SourceUnits, compute_qois  # noqa: E402


def _time(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def read_all(path) -> int:
    with adapters.open(path) as src:
        src.mesh()
        n = 0
        for name in src.fields():
            for step in range(src.n_steps):
                n += src.read(name, step).size
        return n


def meshio_all(path) -> int | None:
    try:
        import meshio
    except ImportError:
        return None
    n = 0
    try:
        with meshio.xdmf.TimeSeriesReader(path) as r:
            r.read_points_cells()
            for k in range(r.num_steps):
                _, pd, cd = r.read_data(k)
                n += sum(np.asarray(v).size for v in pd.values())
    except Exception:  # noqa: BLE001 - meshio cannot read it: that is the result
        return None
    return n


def read_speed(data: Path) -> list[dict]:
    cfd = data / "cfd"
    cases = [("vampy mesh.h5 (+u, p, u_mean)", cfd / "vampy_artery/Solutions/mesh.h5", False),
             ("xdmf_dolfin/no_checkpoint.xdmf", cfd / "xdmf_dolfin/no_checkpoint.xdmf", True),
             ("xdmf_dolfin/checkpoint.xdmf", cfd / "xdmf_dolfin/checkpoint.xdmf", True),
             ("xdmf_meshio/out.xdmf", cfd / "xdmf_meshio/out.xdmf", True),
             ("vtkhdf/can-vtu.hdf", cfd / "vtkhdf/can-vtu.hdf", False),
             ("vtkhdf/warping_spheres.vtkhdf", cfd / "vtkhdf/warping_spheres.vtkhdf", False),
             ("cgns/cgnslib_vers-4400.cgns", cfd / "cgns/cgnslib_vers-4400.cgns", False)]
    rows = []
    for label, path, try_meshio in cases:
        if not path.exists():
            continue
        ours = _time(lambda p=path: read_all(p))
        peer = None
        if try_meshio:
            cwd = os.getcwd()
            os.chdir(path.parent)
            try:
                if meshio_all(path) is not None:
                    peer = _time(lambda p=path: meshio_all(p))
            finally:
                os.chdir(cwd)
        rows.append({"file": label, "format": adapters.detect(path), "twinemu_s": ours,
                     "meshio_s": peer})
    return rows


def wss_accuracy() -> list[dict]:
    from tests.datasets.adapters import fixtures as fx

    R, L, U, mu = 2e-3, 1e-2, 0.2, 3.5e-3
    Q = U * np.pi * R**2
    tau = 4 * mu * Q / (np.pi * R**3)
    rows = []
    for nr, nth, grading in [(4, 24, 1.0), (8, 32, 1.0), (8, 32, 2.0), (12, 48, 2.0)]:
        pts, tets = fx.cylinder(R, L, nr=nr, nth=nth, nz=6, grading=grading)
        tris, tags = fx.cylinder_facets(pts, tets, L, R)
        mesh = Mesh(pts, {"tetra": tets}, {"triangle": tris}, {"triangle": tags}, fx.TAG_NAMES)
        src = MemorySource(mesh, {"u": ("point", fx.poiseuille(pts, R, U)[None])}, [0.0])
        spec = QoISpec(pressure=None, outlets=["outlet"], flow_unit="m3/s", phase_points=2,
                       units=SourceUnits(viscosity=mu))
        t0 = time.perf_counter()
        out = compute_qois(src, spec)
        rows.append({"nr": nr, "ntheta": nth, "grading": grading, "tets": int(len(tets)),
                     "wall_h_over_R": float((1 / nr) ** grading),  # r_i = R(1-(1-i/n)^g)
                     "Q_rel_err": float(out["Q_outlet_mean"] / Q - 1),
                     "WSS_rel_err": float(out["TAWSS_mean"] / tau - 1),
                     "seconds": time.perf_counter() - t0})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "TWINEMU_SHARED_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "bench" / "cfd_adapters.json")
    args = ap.parse_args()
    speed = read_speed(args.data) if args.data.is_dir() else []
    print(f"{'file':<34} {'format':<12} {'twinemu [s]':>12} {'meshio [s]':>11}")
    for r in speed:
        peer = "n/a" if r["meshio_s"] is None else f"{r['meshio_s']:.4f}"
        print(f"{r['file']:<34} {r['format']:<12} {r['twinemu_s']:>12.4f} {peer:>11}")
    acc = wss_accuracy()
    print(f"\n{'nr':>3} {'nth':>4} {'grade':>5} {'tets':>7} {'h/R':>7} {'Q err':>9} "
          f"{'WSS err':>9}")
    for r in acc:
        print(f"{r['nr']:>3} {r['ntheta']:>4} {r['grading']:>5.1f} {r['tets']:>7} "
              f"{r['wall_h_over_R']:>7.4f} {r['Q_rel_err']:>9.2%} {r['WSS_rel_err']:>9.2%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"read_speed": speed, "poiseuille": acc}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
