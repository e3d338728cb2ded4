"""Mesh geometry for quantities of interest: facet areas and normals, cap detection.

All functions work on plain arrays in whatever length unit the points are in; areas come
out in that unit squared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from datasets.adapters.base import Mesh, exterior_facets, match_rows, triangulate
from datasets.errors import QoIError


def triangle_geometry(points: np.ndarray, tris: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Areas ``(m,)``, unit normals ``(m, 3)`` (right-hand rule) and centroids ``(m, 3)``."""
    a, b, c = (points[tris[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    norm = np.linalg.norm(cross, axis=1)
    area = 0.5 * norm
    normals = cross / np.where(norm > 0, norm, 1.0)[:, None]
    return area, normals, (a + b + c) / 3.0


def facet_owner(tets: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Index of the tetrahedron that owns each boundary triangle (-1 if none)."""
    faces = np.concatenate([tets[:, f] for f in ((1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1))])
    owner = np.tile(np.arange(len(tets)), 4)
    idx = match_rows(tris, faces)
    return np.where(idx >= 0, owner[np.maximum(idx, 0)], -1)


def outward_triangles(points: np.ndarray, tets: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Reorder each boundary triangle so its right-hand normal points out of its tetrahedron."""
    own = facet_owner(tets, tris)
    if np.any(own < 0):
        raise QoIError(f"{int((own < 0).sum())} boundary facets belong to no tetrahedron")
    cell = tets[own]
    centroid = points[cell].mean(axis=1)
    _, n, c = triangle_geometry(points, tris)
    flip = np.einsum("ij,ij->i", n, c - centroid) < 0
    out = tris.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def _edge_adjacency(tris: np.ndarray) -> list[np.ndarray]:
    """Neighbour triangles of each triangle across shared edges."""
    m = len(tris)
    edges = np.concatenate([np.sort(tris[:, [i, j]], axis=1) for i, j in ((0, 1), (1, 2), (2, 0))])
    owner = np.tile(np.arange(m), 3)
    _, inv = np.unique(edges, axis=0, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    groups = np.split(owner[order], np.flatnonzero(np.diff(inv[order])) + 1)
    nbrs: list[list[int]] = [[] for _ in range(m)]
    for g in groups:
        for a in g:
            nbrs[a].extend(int(b) for b in g if b != a)
    return [np.array(n, np.int64) for n in nbrs]


def tag_caps(mesh: Mesh, centres: Mapping[str, Sequence[float]], *,
             tags: Mapping[str, int] | None = None, wall_name: str = "wall", wall_tag: int = 0,
             angle_deg: float = 20.0) -> Mesh:
    """Tag flat inlet/outlet caps of an untagged tetrahedral mesh from their centres.

    Each cap grows from the boundary triangle nearest its centre across edges while the
    normal stays within ``angle_deg`` of the seed normal (flow-extension caps are planar and
    meet the wall at about 90 degrees).  Everything else is the wall.

    Parameters
    ----------
    centres : {name: (x, y, z)}
        Cap centres in the mesh's length unit (e.g. VaMPy's ``artery_info.json``).
    tags : {name: int}, optional
        Integer tag per cap (default 1, 2, ... in order).
    """
    tets = mesh.cells.get("tetra")
    if tets is None:
        raise QoIError("cap detection needs a tetrahedral mesh")
    tris = outward_triangles(mesh.points, tets, exterior_facets({"tetra": tets})["triangle"])
    area, normals, centroid = triangle_geometry(mesh.points, tris)
    nbrs = _edge_adjacency(tris)
    label = np.full(len(tris), wall_tag, np.int64)
    names = {wall_tag: wall_name}
    cos_tol = np.cos(np.radians(angle_deg))
    for k, (name, centre) in enumerate(centres.items()):
        tag = int(tags[name]) if tags and name in tags else k + 1
        if tag == wall_tag or tag in names:
            raise QoIError(f"cap {name!r}: tag {tag} is already used")
        seed = int(np.argmin(np.linalg.norm(centroid - np.asarray(centre, float), axis=1)))
        n0 = normals[seed]
        seen = {seed}
        stack = [seed]
        while stack:
            i = stack.pop()
            for j in nbrs[i]:
                if j not in seen and label[j] == wall_tag and normals[j] @ n0 >= cos_tol:
                    seen.add(j)
                    stack.append(j)
        label[list(seen)] = tag
        names[tag] = name
    return Mesh(mesh.points, mesh.cells, {"triangle": tris}, {"triangle": label}, names)


def boundary_triangles(mesh: Mesh, key: str | int) -> np.ndarray:
    """Triangles of one boundary, oriented outward when the mesh has tetrahedra."""
    tris = mesh.boundary_triangles(key)
    tets = mesh.cells.get("tetra")
    if tets is not None and len(tris):
        own = facet_owner(tets, tris)
        if np.all(own >= 0):
            return outward_triangles(mesh.points, tets, tris)
    return tris


def boundary_of(mesh: Mesh) -> dict[str, np.ndarray]:
    """All exterior facets of the volume cells."""
    return exterior_facets(mesh.cells)


__all__ = ["boundary_of", "boundary_triangles", "facet_owner", "outward_triangles",
           "tag_caps", "triangle_geometry", "triangulate"]
