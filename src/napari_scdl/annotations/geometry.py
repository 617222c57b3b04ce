"""Which spots lie inside a drawn shape (polygon, lasso, rectangle, ellipse).

All coordinates are ``(x, y)`` in full-resolution pixels, like ``obsm['spatial']``. The
napari layer converts its ``(row, col)`` shapes to ``(x, y)`` before calling these.
"""

from __future__ import annotations

import numpy as np

from ..errors import MissingKeyError, ScdlError


def spot_xy(adata) -> np.ndarray:
    """``(n_spots, 2)`` float array of spot centres ``(x, y)`` from ``obsm['spatial']``."""
    if "spatial" not in adata.obsm:
        raise MissingKeyError(
            "adata.obsm['spatial'] (spot coordinates) is missing; read the sample with "
            "napari_scdl.io.read() so spots can be selected on the image"
        )
    return np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]


def as_polygon(vertices) -> np.ndarray:
    """Validate a polygon given as ``(n, 2)`` ``(x, y)`` vertices (closing vertex optional)."""
    xy = np.asarray(vertices, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ScdlError(f"a polygon needs (n, 2) x, y vertices, got an array of shape {xy.shape}")
    if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    if len(xy) < 3:
        raise ScdlError(f"a polygon needs at least 3 distinct vertices, got {len(xy)}")
    if not np.isfinite(xy).all():
        raise ScdlError("polygon vertices contain NaN or infinite values")
    return xy


def points_in_polygon(points: np.ndarray, vertices, *, holes=()) -> np.ndarray:
    """Boolean mask of ``points`` (``(n, 2)`` x, y) inside the polygon ``vertices``.

    Points on the boundary count as inside. ``holes`` are polygons cut out of it (GeoJSON
    interior rings). Uses :class:`matplotlib.path.Path` (even-odd rule, so a
    self-intersecting lasso selects what it visibly encloses).
    """
    from matplotlib.path import Path

    pts = np.asarray(points, dtype=float)[:, :2]
    poly = as_polygon(vertices)
    span = float(np.ptp(poly, axis=0).max()) or 1.0
    tol = 1e-9 * span
    inside = np.zeros(len(pts), dtype=bool)
    lo, hi = poly.min(0) - tol, poly.max(0) + tol  # only points in the bounding box
    near = np.flatnonzero(((pts >= lo) & (pts <= hi)).all(1))
    if not len(near):
        return inside
    cand = pts[near]
    path = Path(poly)
    hit = path.contains_points(cand)
    hit |= _on_boundary(cand, poly, tol=tol)  # matplotlib leaves boundary points to chance
    for hole in holes:
        hit &= ~Path(as_polygon(hole)).contains_points(cand)
    inside[near] = hit
    return inside


def _on_boundary(pts: np.ndarray, poly: np.ndarray, tol: float) -> np.ndarray:
    """Points within ``tol`` of an edge of ``poly``; each edge only looks at the points
    in its own x range (points sorted by x once)."""
    out = np.zeros(len(pts), dtype=bool)
    order = np.argsort(pts[:, 0], kind="stable")
    xs = pts[order, 0]
    nxt = np.roll(poly, -1, axis=0)
    for a, b in zip(poly, nxt, strict=True):
        i0 = int(np.searchsorted(xs, min(a[0], b[0]) - tol, side="left"))
        i1 = int(np.searchsorted(xs, max(a[0], b[0]) + tol, side="right"))
        if i0 >= i1:
            continue
        idx = order[i0:i1]
        p = pts[idx]
        keep = (p[:, 1] >= min(a[1], b[1]) - tol) & (p[:, 1] <= max(a[1], b[1]) + tol)
        if not keep.any():
            continue
        idx, p = idx[keep], p[keep]
        ab = b - a
        denom = float(ab @ ab) or 1.0
        t = np.clip(((p - a) @ ab) / denom, 0.0, 1.0)
        d = np.hypot(*(p - (a + t[:, None] * ab)).T)
        out[idx[d <= tol]] = True
    return out


def spots_in_polygon(adata, vertices, *, holes=()) -> np.ndarray:
    """Indices of the spots of ``adata`` whose centres lie inside the polygon."""
    return np.flatnonzero(points_in_polygon(spot_xy(adata), vertices, holes=holes))


def spots_in_lasso(adata, path_xy) -> np.ndarray:
    """Indices of the spots enclosed by a free-hand lasso path (closed automatically)."""
    return spots_in_polygon(adata, path_xy)


def spots_in_ellipse(adata, center, radii) -> np.ndarray:
    """Indices of the spots inside the axis-aligned ellipse ``center`` (x, y), ``radii``."""
    xy = spot_xy(adata)
    c = np.asarray(center, dtype=float)
    r = np.asarray(radii, dtype=float)
    if r.shape != (2,) or (r <= 0).any():
        raise ScdlError(f"ellipse radii must be two positive numbers, got {radii!r}")
    return np.flatnonzero((((xy - c) / r) ** 2).sum(1) <= 1.0)


def spots_near(adata, point, radius: float) -> np.ndarray:
    """Indices of the spots within ``radius`` pixels of ``point`` (a paint brush)."""
    xy = spot_xy(adata)
    d = np.linalg.norm(xy - np.asarray(point, dtype=float)[:2], axis=1)
    return np.flatnonzero(d <= float(radius))


def nearest_spot(adata, point, *, max_distance: float | None = None) -> int | None:
    """Index of the spot closest to ``point`` (None if farther than ``max_distance``)."""
    xy = spot_xy(adata)
    d = np.linalg.norm(xy - np.asarray(point, dtype=float)[:2], axis=1)
    i = int(np.argmin(d))
    if max_distance is not None and d[i] > max_distance:
        return None
    return i


def outline(points: np.ndarray, *, kind: str = "auto", spacing: float | None = None) -> list:
    """Outline polygons around a set of spot centres ``(x, y)``.

    ``kind="discs"``: the union of discs of diameter 1.2 x the spot spacing (a concave
    outline with holes; needs shapely); ``"hull"``: the convex hull of each spatially
    connected group of spots; ``"auto"``: ``discs`` when shapely is installed, else ``hull``.
    ``spacing`` defaults to the median nearest-neighbour distance.

    Returns a list of ``(exterior, holes)`` with ``exterior`` an ``(n, 2)`` array and
    ``holes`` a list of arrays; empty when there are no points.
    """
    from scipy.spatial import cKDTree

    pts = np.unique(np.asarray(points, dtype=float).reshape(-1, 2), axis=0)
    if len(pts) == 0:
        return []
    if spacing is None:
        spacing = float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1])) if len(pts) > 1 else 1.0
        spacing = spacing or 1.0
    if kind == "auto":
        kind = "discs" if _has_shapely() else "hull"
    if kind == "discs":
        return _disc_union(pts, 0.6 * spacing)
    if kind == "hull":
        return [(h, []) for h in _component_hulls(pts, 1.5 * spacing, 0.6 * spacing)]
    raise ScdlError(f"unknown outline kind {kind!r}; use 'auto', 'discs' or 'hull'")


def _has_shapely() -> bool:
    from importlib.util import find_spec

    return find_spec("shapely") is not None


def _disc_union(pts: np.ndarray, radius: float) -> list:
    from shapely import MultiPoint, simplify, union_all

    geom = union_all([g.buffer(radius, quad_segs=4) for g in MultiPoint(pts).geoms])
    geom = simplify(geom, radius * 0.1)
    polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    return [
        (np.asarray(p.exterior.coords)[:-1], [np.asarray(r.coords)[:-1] for r in p.interiors])
        for p in polys
        if not p.is_empty
    ]


def _component_hulls(pts: np.ndarray, link: float, pad: float) -> list[np.ndarray]:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import ConvexHull, QhullError, cKDTree

    pairs = cKDTree(pts).query_pairs(link, output_type="ndarray")
    adj = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(pts),) * 2)
    _, comp = connected_components(adj, directed=False)
    out = []
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = pad * np.c_[np.cos(angles), np.sin(angles)]
    for c in np.unique(comp):
        # pad each spot by a small octagon so single spots and lines still have an area
        group = (pts[comp == c][:, None, :] + ring[None]).reshape(-1, 2)
        try:
            hull = ConvexHull(group)
        except QhullError:
            continue
        out.append(group[hull.vertices])
    return out
