"""Align adjacent sections of one tissue block: a rigid (or affine) map of one slide's spot
coordinates onto another's, and the spot pairs that face each other across the two.

The matching uses the spots' expression as well as their positions (a section and the next
one have the same layers in nearly the same places): each spot is described by its
coordinates in spot spacings and by expression principal components shared by the two
slides (smoothed over its spatial neighbours), scaled to weigh like a few spot spacings.
A coarse search over rotations about the centroids picks the start; iterative closest
points in that joint space (scikit-image's ``EuclideanTransform`` / ``AffineTransform``
fitted to the best 80 % of the matches at each step) refines it. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .errors import ScdlError

#: weight of the expression components against the coordinates (in spot spacings)
FEATURE_WEIGHT = 3.0
_TRIM = 0.8


@dataclass
class Alignment:
    """``matrix`` (3 x 3, homogeneous) maps the moving slide's ``obsm['spatial']`` onto the
    reference's; ``angle_deg`` and ``shift`` (pixels) are its rotation and translation;
    ``residual`` the median distance (in spot spacings) of matched spots after alignment;
    ``spacing`` the reference's spot spacing in pixels."""

    matrix: np.ndarray
    angle_deg: float
    shift: np.ndarray
    scale: float
    residual: float
    spacing: float
    kind: str

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Coordinates ``xy`` (n x 2) of the moving slide in the reference's frame."""
        xy = np.asarray(xy, dtype=np.float64)[:, :2]
        return xy @ self.matrix[:2, :2].T + self.matrix[:2, 2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "matrix": np.asarray(self.matrix, dtype=np.float64),
            "angle_deg": float(self.angle_deg),
            "shift": np.asarray(self.shift, dtype=np.float64),
            "scale": float(self.scale),
            "residual_spacings": float(self.residual),
            "spacing_px": float(self.spacing),
            "kind": self.kind,
        }


def spot_spacing(xy: np.ndarray) -> float:
    """Median distance of a spot to its nearest neighbour (pixels)."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64)[:, :2]
    d, _ = cKDTree(xy).query(xy[: min(len(xy), 5000)], k=2)
    return max(float(np.median(d[:, 1])), 1e-9)


def shared_features(adata_ref, adata_mov, *, n_pcs: int = 15, n_genes: int = 1000,
                    smooth: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Expression components of the two slides in one space: log-normalised counts of their
    shared genes, each gene centred per slide, the ``n_genes`` most variable, a joint PCA,
    each spot averaged with its ``smooth`` nearest neighbours; unit variance overall."""
    from scipy.spatial import cKDTree
    from sklearn.decomposition import PCA

    from .preprocessing import expression_input, log_normalize

    shared = adata_ref.var_names.intersection(adata_mov.var_names)
    if len(shared) < 10:
        raise ScdlError(f"the two sections share only {len(shared)} genes; cannot align them "
                        "by expression")
    parts = []
    for a in (adata_ref, adata_mov):
        X = expression_input(a).X[:, a.var_names.get_indexer(shared)]
        L = log_normalize(X).toarray()
        parts.append(L - L.mean(0, keepdims=True))
    both = np.vstack(parts)
    var = both.var(0)
    keep = np.argsort(-var)[: min(n_genes, both.shape[1])]
    n = int(min(n_pcs, both.shape[0] - 1, len(keep)))
    pcs = PCA(n_components=n, random_state=0).fit_transform(both[:, keep])
    pcs /= max(float(pcs.std()), 1e-9) * np.sqrt(n)  # unit total variance
    out, start = [], 0
    for a in (adata_ref, adata_mov):
        f = pcs[start:start + a.n_obs]
        start += a.n_obs
        if smooth > 0 and a.n_obs > smooth:
            xy = np.asarray(a.obsm["spatial"], dtype=np.float64)[:, :2]
            _, nb = cKDTree(xy).query(xy, k=smooth + 1)
            f = f[nb].mean(1)
        out.append(f / max(float(np.sqrt((f ** 2).sum(1).mean())), 1e-9))
    return out[0], out[1]


def _rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _fit(kind: str, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    from skimage import transform as T

    cls = T.EuclideanTransform if kind == "rigid" else T.AffineTransform
    if hasattr(cls, "from_estimate"):  # scikit-image >= 0.26
        tf = cls.from_estimate(src, dst)
        if not tf:
            raise ScdlError(f"could not fit a {kind} transform to the matched spots")
    else:
        tf = cls()
        if not tf.estimate(src, dst):
            raise ScdlError(f"could not fit a {kind} transform to the matched spots")
    return np.asarray(tf.params, dtype=np.float64)


def align_coordinates(
    xy_ref: np.ndarray,
    xy_mov: np.ndarray,
    feat_ref: np.ndarray | None = None,
    feat_mov: np.ndarray | None = None,
    *,
    kind: Literal["rigid", "affine"] = "rigid",
    feature_weight: float = FEATURE_WEIGHT,
    angle_step: float = 5.0,
    max_iter: int = 40,
) -> Alignment:
    """Map ``xy_mov`` onto ``xy_ref`` (n x 2 pixels each; features optional, one row per
    spot, same columns): coarse rotation search about the centroids, then iterative
    closest points in the joint (coordinates, expression) space."""
    from scipy.spatial import cKDTree

    if kind not in ("rigid", "affine"):
        raise ScdlError(f"alignment kind must be 'rigid' or 'affine', got {kind!r}")
    a = np.asarray(xy_ref, dtype=np.float64)[:, :2]
    b = np.asarray(xy_mov, dtype=np.float64)[:, :2]
    if len(a) < 10 or len(b) < 10:
        raise ScdlError("alignment needs at least 10 spots on each section")
    s = spot_spacing(a)
    fa = np.zeros((len(a), 0)) if feat_ref is None else feature_weight * np.asarray(feat_ref)
    fb = np.zeros((len(b), 0)) if feat_mov is None else feature_weight * np.asarray(feat_mov)
    tree = cKDTree(np.hstack([a / s, fa]))

    def cost(M: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        moved = b @ M[:2, :2].T + M[:2, 2]
        d, j = tree.query(np.hstack([moved / s, fb]), k=1)
        return float(np.median(d)), d, j

    ca, cb = a.mean(0), b.mean(0)
    best = None
    for theta in np.deg2rad(np.arange(0.0, 360.0, angle_step)):
        M = np.eye(3)
        M[:2, :2] = _rotation(theta)
        M[:2, 2] = ca - M[:2, :2] @ cb
        c = cost(M)[0]
        if best is None or c < best[0]:
            best = (c, M)
    M, prev = best[1], np.inf
    for it in range(max_iter):
        c, d, j = cost(M)
        keep = d <= np.quantile(d, _TRIM)
        M = _fit(kind if it >= 5 else "rigid", b[keep], a[j[keep]])  # rigid first, then kind
        if abs(prev - c) < 1e-4 and it >= 5:
            break
        prev = c
    moved = b @ M[:2, :2].T + M[:2, 2]
    dist, _ = cKDTree(a).query(moved, k=1)
    lin = M[:2, :2]
    return Alignment(
        matrix=M,
        angle_deg=float(np.rad2deg(np.arctan2(lin[1, 0], lin[0, 0]))),
        shift=M[:2, 2].copy(),
        scale=float(np.sqrt(abs(np.linalg.det(lin)))),
        residual=float(np.median(dist) / s),
        spacing=s,
        kind=kind,
    )


def align_sections(adata_ref, adata_mov, *, kind: Literal["rigid", "affine"] = "rigid",
                   use_expression: bool = True, **kwargs: Any) -> Alignment:
    """Align section ``adata_mov`` onto the adjacent section ``adata_ref`` (their
    ``obsm['spatial']``), matching spots by position and expression."""
    for name, ad_ in (("reference", adata_ref), ("moving", adata_mov)):
        if "spatial" not in ad_.obsm:
            raise ScdlError(f"the {name} section has no obsm['spatial'] (spot coordinates)")
    fa = fb = None
    if use_expression:
        fa, fb = shared_features(adata_ref, adata_mov)
    return align_coordinates(adata_ref.obsm["spatial"], adata_mov.obsm["spatial"], fa, fb,
                             kind=kind, **kwargs)


def section_edges(xy_ref: np.ndarray, xy_mov_aligned: np.ndarray, *, k: int = 3,
                  max_dist: float) -> tuple[np.ndarray, np.ndarray]:
    """Spot pairs ``(i in ref, j in moving)`` across two aligned sections: each spot's ``k``
    nearest on the other section within ``max_dist`` pixels (both directions, unique)."""
    from scipy.spatial import cKDTree

    a = np.asarray(xy_ref, dtype=np.float64)[:, :2]
    b = np.asarray(xy_mov_aligned, dtype=np.float64)[:, :2]
    pairs = []
    d, j = cKDTree(a).query(b, k=k, distance_upper_bound=max_dist)
    ok = np.isfinite(d)
    pairs.append(np.stack([j[ok], np.nonzero(ok)[0]], 1))
    d, i = cKDTree(b).query(a, k=k, distance_upper_bound=max_dist)
    ok = np.isfinite(d)
    pairs.append(np.stack([np.nonzero(ok)[0], i[ok]], 1))
    p = np.unique(np.vstack(pairs).astype(np.int64), axis=0)
    return p[:, 0], p[:, 1]


def cross_adjacency(n: int, idx_ref: np.ndarray, idx_mov: np.ndarray, xy_ref, xy_mov_aligned,
                    *, k: int = 3, max_dist: float) -> sp.csr_matrix:
    """Symmetric ``n x n`` adjacency of the edges between two aligned sections whose spots
    are rows ``idx_ref`` and ``idx_mov`` of a joint AnnData."""
    i, j = section_edges(xy_ref, xy_mov_aligned, k=k, max_dist=max_dist)
    r = np.concatenate([idx_ref[i], idx_mov[j]])
    c = np.concatenate([idx_mov[j], idx_ref[i]])
    return sp.csr_matrix((np.ones(r.size, dtype=np.float32), (r, c)), shape=(n, n))


__all__ = ["Alignment", "align_coordinates", "align_sections", "section_edges", "spot_spacing"]
