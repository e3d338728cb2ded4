"""Mesh geometry for quantities of interest: facet areas and normals, cap detection.

All functions work on plain arrays in whatever length unit the points are in; areas come
out in that unit squared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from datasets.adapters.base import (
    CELL_FACES,
    VOLUME_TYPES,
    Mesh,
    exterior_facets,
    match_rows,
    triangulate,
)
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


@dataclass(frozen=True)
class BoundaryFaces:
    """The facets of one boundary, oriented outward where that can be decided.

    Attributes
    ----------
    facets : {type: (m, k) int64}
        Vertex ids, ordered so that the right-hand-rule normal points out of the fluid.
    rows : (m_total,) int64
        Row of each facet in :attr:`Mesh.facets` order (types in dict order): where a
        ``"facet"`` field holds its value.  Facets are listed type by type, as in ``facets``.
    owner : (m_total,) int64 or None
        The volume cell each facet bounds, as an index in :attr:`Mesh.cells` order (where a
        ``"cell"`` field holds its value); None for a mesh without volume cells.
    oriented : bool
        False when the mesh has no volume cells and its boundary is not a closed surface,
        so the outward side is unknown and the facets are as written.
    """

    facets: dict[str, np.ndarray]
    rows: np.ndarray
    owner: np.ndarray | None
    oriented: bool


def facet_vector_areas(points: np.ndarray, facets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Vector area ``S_f = A_f n_f`` of each facet ``(m_total, 3)``, facets type by type.

    Fan split from the first vertex: ``S_f = 1/2 sum_j (x_j - x_0) x (x_{j+1} - x_0)``
    (exact for planar polygons, the mean normal of a warped quad).
    """
    parts = []
    for conn in facets.values():
        x = points[np.asarray(conn, np.int64)]
        s = np.zeros((len(x), 3))
        for j in range(1, x.shape[1] - 1):
            s += np.cross(x[:, j] - x[:, 0], x[:, j + 1] - x[:, 0])
        parts.append(0.5 * s)
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def _volume_faces(cells: Mapping[str, np.ndarray], size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Every ``size``-vertex local face of the volume cells, with its cell index (in
    :attr:`Mesh.cells` order, all types counted)."""
    faces, owner, offset = [], [], 0
    for ctype, conn in cells.items():
        conn = np.asarray(conn, np.int64)
        for face in CELL_FACES.get(ctype, []):
            if len(face) == size and ctype in VOLUME_TYPES:
                faces.append(conn[:, face])
                owner.append(offset + np.arange(len(conn)))
        offset += len(conn)
    if not faces:
        return np.zeros((0, size), np.int64), np.zeros(0, np.int64)
    return np.concatenate(faces), np.concatenate(owner)


def _cell_centroids(points: np.ndarray, cells: Mapping[str, np.ndarray],
                    index: np.ndarray) -> np.ndarray:
    """Vertex-mean centroid of cells given by index in :attr:`Mesh.cells` order."""
    out = np.zeros((len(index), 3))
    offset = 0
    for conn in cells.values():
        conn = np.asarray(conn, np.int64)
        sel = (index >= offset) & (index < offset + len(conn))
        if sel.any():
            out[sel] = points[conn[index[sel] - offset]].mean(axis=1)
        offset += len(conn)
    return out


def closed_surface_sign(points: np.ndarray, facets: Mapping[str, np.ndarray]) -> int:
    """+1 if the facets form a closed surface oriented outward, -1 if inward, 0 if it is
    open or not consistently oriented.

    Closed and consistent: every directed edge ``a -> b`` of the (fan-split) triangles is
    met exactly once, and so is ``b -> a``.  Such a surface encloses the signed volume
    ``V = 1/6 sum_t x_a . (x_b x x_c)`` (divergence theorem), positive for outward normals.
    """
    tris = triangulate(facets)
    if not len(tris):
        return 0
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    if len(np.unique(edges, axis=0)) != len(edges):
        return 0  # an edge met twice in one direction: open fan, flipped facet or T-junction
    _, count = np.unique(np.sort(edges, axis=1), axis=0, return_counts=True)
    if np.any(count != 2):
        return 0  # an edge of one facet (a hole) or of more than two (not a manifold)
    a, b, c = (points[tris[:, i]] for i in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0
    return 1 if volume > 0 else -1 if volume < 0 else 0


def boundary_faces(mesh: Mesh, key: str | int) -> BoundaryFaces:
    """Facets of one boundary with their field rows and owner cells, oriented outward.

    With volume cells each facet is turned so its normal points away from the centroid of
    the cell it bounds; a facet that bounds no volume cell makes the flow sign arbitrary
    and raises :class:`QoIError`.  Without volume cells (a Fluent case, a surface file)
    the whole boundary is flipped if it is a closed surface oriented inward, and left as
    written (``oriented=False``) if it is not closed.
    """
    tag = mesh.tag_of(key)
    facets, rows, offset = {}, [], 0
    for ftype, conn in mesh.facets.items():
        sel = np.flatnonzero(mesh.facet_tags[ftype] == tag)
        if len(sel):
            facets[ftype] = np.asarray(conn, np.int64)[sel]
            rows.append(offset + sel)
        offset += len(conn)
    if not facets:
        mesh.boundary(key)  # raises KeyError naming the boundaries this mesh has
    rows_all = np.concatenate(rows)
    vols = {t: c for t, c in mesh.cells.items() if t in VOLUME_TYPES}
    if not vols:
        sign = closed_surface_sign(mesh.points, mesh.facets)
        if sign < 0:
            facets = {t: c[:, ::-1].copy() for t, c in facets.items()}
        return BoundaryFaces(facets, rows_all, None, sign != 0)
    owners, out = [], {}
    for ftype, conn in facets.items():
        faces, cell = _volume_faces(mesh.cells, conn.shape[1])
        idx = match_rows(conn, faces)
        if np.any(idx < 0):
            raise QoIError(
                f"{int((idx < 0).sum())} of the {len(conn)} {ftype} facets of boundary "
                f"{key!r} are faces of no volume cell, so their outward side (and the sign "
                f"of the flow through them) is unknown; the facet tags do not match the "
                f"cells -- check that the boundary markers belong to this mesh")
        own = cell[idx]
        centre = _cell_centroids(mesh.points, mesh.cells, own)
        x = mesh.points[conn]
        normal = facet_vector_areas(mesh.points, {ftype: conn})
        flip = np.einsum("ij,ij->i", normal, x.mean(axis=1) - centre) < 0
        oriented = conn.copy()
        oriented[flip] = conn[flip][:, ::-1]
        out[ftype] = oriented
        owners.append(own)
    return BoundaryFaces(out, rows_all, np.concatenate(owners), True)


def boundary_triangles(mesh: Mesh, key: str | int) -> np.ndarray:
    """Triangles of one boundary (quads split), oriented outward when the mesh has volume
    cells; :class:`QoIError` if some of its facets bound no volume cell."""
    return triangulate(boundary_faces(mesh, key).facets)


def boundary_of(mesh: Mesh) -> dict[str, np.ndarray]:
    """All exterior facets of the volume cells."""
    return exterior_facets(mesh.cells)


__all__ = ["BoundaryFaces", "boundary_faces", "boundary_of", "boundary_triangles",
           "closed_surface_sign", "facet_owner", "facet_vector_areas", "outward_triangles",
           "tag_caps", "triangle_geometry", "triangulate"]
