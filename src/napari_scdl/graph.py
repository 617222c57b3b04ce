"""Sparse spatial neighbour graphs (never dense n x n).

Built with squidpy's ``spatial_neighbors`` (hexagonal Visium grid or generic kNN/radius),
returned as a symmetric ``scipy.sparse.csr_matrix`` and convertible to a PyG edge_index.
The one-ring graph of an array grid (Visium's 6 neighbours, Visium HD's 4) is read off
``array_row``/``array_col`` directly (:func:`array_grid_graph`: the same graph as squidpy's
grid builder, without importing squidpy, which is 1-2 s of a Visium slide's run).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import scipy.sparse as sp

from .errors import MissingKeyError, ScdlError

logger = logging.getLogger(__name__)

GraphKind = Literal["auto", "visium", "knn", "radius", "delaunay"]
CELL_GEOMETRIES = ("circle", "polygon", "labels")  # cell-level platforms (Xenium, segmentations)


def _coords(adata) -> np.ndarray:
    if "spatial" not in adata.obsm:
        raise MissingKeyError(
            "adata.obsm['spatial'] (spot coordinates) is missing; read the sample with "
            "napari_scdl.io.read() or add (x, y) coordinates there"
        )
    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    if not np.isfinite(xy).all():
        raise ScdlError("adata.obsm['spatial'] contains NaN or infinite coordinates")
    return xy


def _resolve_kind(adata, kind: GraphKind) -> str:
    if kind != "auto":
        return kind
    if {"array_row", "array_col"} <= set(adata.obs.columns):
        return "visium"
    return "delaunay" if is_cell_level(adata) else "knn"


def is_cell_level(adata) -> bool:
    """Whether ``adata`` holds segmented cells (Xenium, SpatialData shapes/labels of cells)
    rather than spots or bins on an array grid."""
    info = (adata.uns.get("scdl") or {}).get("spatialdata") or {}
    return info.get("geometry") in CELL_GEOMETRIES


def grid_neighbours(adata) -> int:
    """Neighbours per ring of the array grid: 6 for Visium's hexagonal spots (every spot
    has ``array_row + array_col`` even), 4 for a square grid (Visium HD bins)."""
    if not {"array_row", "array_col"} <= set(adata.obs.columns):
        return 6
    rc = adata.obs[["array_row", "array_col"]].to_numpy(dtype=np.int64)
    return 6 if ((rc[:, 0] + rc[:, 1]) % 2 == 0).all() else 4


def build_graph(
    adata,
    *,
    kind: GraphKind = "auto",
    n_neighbors: int = 6,
    radius: float | None = None,
    max_distance: float | None = None,
) -> sp.csr_matrix:
    """Symmetric binary adjacency of the spots (no self loops), without touching ``adata``.

    Parameters
    ----------
    kind
        ``visium``: the 6 hexagonal neighbours of a Visium grid (``n_neighbors`` rings of
        6 when ``n_neighbors`` > 6 is a multiple of 6), or the 4 side neighbours of a
        square grid of bins (Visium HD; as many rings); ``knn``: ``n_neighbors`` nearest
        spots; ``radius``: every spot within ``radius`` (full-resolution pixels);
        ``delaunay``: the Delaunay triangulation (cells touching their natural
        neighbours); ``auto``: ``visium`` when ``obs`` has ``array_row``/``array_col``,
        ``delaunay`` for segmented cells (:func:`is_cell_level`), else ``knn``.
    max_distance
        For ``knn`` and ``delaunay``: drop edges longer than this (full-resolution pixels);
        default for cells: 3 x the median nearest-neighbour distance, so cells across a gap
        in the tissue are not linked.
    """
    xy = _coords(adata)
    kind = _resolve_kind(adata, kind)
    n = xy.shape[0]
    if n < 2:
        raise ScdlError("a spatial graph needs at least 2 spots")
    n_rings = max(1, n_neighbors // 6)
    if kind == "visium" and n_rings == 1 and {"array_row", "array_col"} <= set(adata.obs.columns):
        return array_grid_graph(adata)
    sq = import_squidpy()

    if kind == "visium":
        per_ring = grid_neighbours(adata)
        conn, _ = _squidpy(sq, xy, coord_type="grid", n_neighs=per_ring, n_rings=n_rings)
    elif kind == "knn":
        conn, _ = _squidpy(sq, xy, coord_type="generic", n_neighs=min(n_neighbors, n - 1))
    elif kind == "radius":
        if radius is None or radius <= 0:
            raise ScdlError("kind='radius' needs a positive radius (in full-resolution pixels)")
        conn, _ = _squidpy(sq, xy, coord_type="generic", radius=float(radius))
    elif kind == "delaunay":
        if n < 3:
            raise ScdlError("a Delaunay graph needs at least 3 cells")
        conn, _ = _squidpy(sq, xy, coord_type="generic", delaunay=True)
    else:
        raise ScdlError(f"unknown graph kind {kind!r}; use auto, visium, knn, radius or delaunay")
    if kind in ("knn", "delaunay"):
        conn = _cut_long_edges(conn, xy, max_distance,
                               default=kind == "delaunay" or is_cell_level(adata))
    return symmetric_binary(conn)


def symmetric_binary(conn) -> sp.csr_matrix:
    """``conn`` as a symmetric 0/1 float32 CSR matrix without self-loops (an edge either
    way is an edge)."""
    conn = sp.csr_matrix(conn, dtype=np.float32)
    conn = ((conn + conn.T) > 0).astype(np.float32)
    conn.setdiag(0)
    conn.eliminate_zeros()
    return conn.tocsr()


def array_grid_graph(adata) -> sp.csr_matrix:
    """The one-ring graph of an array grid from ``obs['array_row']``/``['array_col']``:
    the 6 hexagonal neighbours of a Visium spot (``(r, c +- 2)``, ``(r +- 1, c +- 1)``) or
    the 4 side neighbours of a square grid's bin (:func:`grid_neighbours` tells which);
    symmetric, binary, no self-loops. On a Visium slide, the same edges as squidpy's grid
    builder on the spot coordinates (checked on DLPFC 151673, 21,124 edges)."""
    rc = adata.obs[["array_row", "array_col"]].to_numpy()
    if not np.isfinite(rc.astype(float)).all():
        raise ScdlError("obs['array_row']/obs['array_col'] contain missing values")
    rc = np.rint(rc.astype(float)).astype(np.int64)
    rc -= rc.min(0)
    if grid_neighbours(adata) == 6:
        steps = [(0, 2), (0, -2), (1, 1), (1, -1), (-1, 1), (-1, -1)]
    else:
        steps = [(0, 1), (0, -1), (1, 0), (-1, 0)]
    width = int(rc[:, 1].max()) + 3  # a row's keys, with room for c + 2: no wrap-around
    key = rc[:, 0] * width + rc[:, 1]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    rows, cols = [], []
    for dr, dc in steps:
        r2, c2 = rc[:, 0] + dr, rc[:, 1] + dc
        want = r2 * width + c2
        pos = np.minimum(np.searchsorted(sorted_key, want), len(key) - 1)
        hit = (r2 >= 0) & (c2 >= 0) & (sorted_key[pos] == want)
        rows.append(np.flatnonzero(hit))
        cols.append(order[pos[hit]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = len(key)
    # symmetrised: two spots on one position each find only the first of them
    return symmetric_binary(sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, n)))


def import_squidpy():
    """``squidpy``, imported without the ``SyntaxWarning``s its docstring templates (docrep)
    print to the terminal on first import."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        import squidpy as sq
    return sq


def _squidpy(sq, xy: np.ndarray, *, coord_type: str, **kwargs):
    """``(connectivities, distances)`` from squidpy: its per-kind builders where they exist
    (squidpy >= 1.8; ``spatial_neighbors`` is deprecated there and goes in 1.9), else
    ``spatial_neighbors(coord_type=...)``."""
    import anndata as ad

    tmp = ad.AnnData(obs={"_": np.zeros(len(xy))}, obsm={"spatial": xy})
    # squidpy logs "Creating graph using ..." at INFO through spatialdata's logger, which
    # prints to the terminal of every command-line run: quiet for this call only
    log = logging.getLogger("spatialdata._logging")
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        if hasattr(sq.gr, "spatial_neighbors_grid"):
            if kwargs.pop("delaunay", False):
                build = sq.gr.spatial_neighbors_delaunay
            elif coord_type == "grid":
                build = sq.gr.spatial_neighbors_grid
            elif "radius" in kwargs:
                build = sq.gr.spatial_neighbors_radius
            else:
                build = sq.gr.spatial_neighbors_knn
            res = build(tmp, copy=True, **kwargs)
        else:  # older squidpy
            res = sq.gr.spatial_neighbors(tmp, coord_type=coord_type, copy=True, **kwargs)
    finally:
        log.setLevel(level)
    return res[0], res[1]


def _cut_long_edges(conn, xy: np.ndarray, max_distance: float | None, *, default: bool):
    """``conn`` without edges longer than ``max_distance`` (or the cell default)."""
    if max_distance is None:
        if not default:
            return conn
        from scipy.spatial import cKDTree

        d, _ = cKDTree(xy).query(xy, k=2)
        max_distance = 3.0 * float(np.median(d[:, 1]))
    coo = sp.coo_matrix(conn)
    keep = np.linalg.norm(xy[coo.row] - xy[coo.col], axis=1) <= max_distance
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)


def spatial_neighbors(
    adata,
    *,
    kind: GraphKind = "auto",
    n_neighbors: int = 6,
    radius: float | None = None,
    key_added: str = "spatial",
) -> None:
    """Compute the spot graph and store it (squidpy convention).

    Writes ``obsp[f"{key_added}_connectivities"]`` and ``uns[f"{key_added}_neighbors"]``.
    """
    conn = build_graph(adata, kind=kind, n_neighbors=n_neighbors, radius=radius)
    adata.obsp[f"{key_added}_connectivities"] = conn
    adata.uns[f"{key_added}_neighbors"] = {
        "connectivities_key": f"{key_added}_connectivities",
        "params": {"kind": _resolve_kind(adata, kind), "n_neighbors": n_neighbors,
                   "radius": radius if radius is not None else -1.0},
    }
    logger.info("wrote obsp['%s_connectivities'] (%d edges)", key_added, conn.nnz)


def get_graph(adata, key: str | None = None, **build_kwargs) -> sp.csr_matrix:
    """The stored graph ``obsp[f"{key}_connectivities"]`` if ``key`` is given, else a new one."""
    if key is None:
        return build_graph(adata, **build_kwargs)
    name = f"{key}_connectivities"
    if name not in adata.obsp:
        raise MissingKeyError(
            f"adata.obsp['{name}'] is missing; run napari_scdl.graph.spatial_neighbors(adata, key_added='{key}')"
        )
    return sp.csr_matrix(adata.obsp[name])


def to_edge_index(adj: sp.spmatrix, *, self_loops: bool = False):
    """``(edge_index, edge_weight)`` torch tensors of a sparse adjacency (PyG layout)."""
    import torch

    coo = sp.coo_matrix(adj)
    if self_loops:
        coo = sp.coo_matrix(coo + sp.eye(coo.shape[0], dtype=coo.dtype))
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    w = torch.from_numpy(coo.data.astype(np.float32))
    return idx, w


def gcn_normalize(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """Symmetric ``D^-1/2 (A + I) D^-1/2`` (Kipf & Welling 2017), sparse float32."""
    a = sp.csr_matrix(adjacency, dtype=np.float32) + sp.eye(adjacency.shape[0], dtype=np.float32)
    d = np.asarray(a.sum(1)).ravel() ** -0.5
    return sp.csr_matrix(sp.diags(d) @ a @ sp.diags(d), dtype=np.float32)


def normalized_adjacency(adj: sp.spmatrix, *, self_loops: bool = True) -> sp.csr_matrix:
    """Row-normalised adjacency ``D^-1 (A + I)``: mean over each spot's neighbourhood."""
    a = sp.csr_matrix(adj, dtype=np.float32)
    if self_loops:
        a = a + sp.eye(a.shape[0], dtype=np.float32, format="csr")
    deg = np.asarray(a.sum(1)).ravel()
    deg[deg == 0] = 1
    return sp.diags(1.0 / deg) @ a
