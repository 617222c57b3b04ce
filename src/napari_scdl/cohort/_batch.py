"""Helpers of ``domain_gcn(batch_key=...)``: several slides in one AnnData, one model.

Genes are chosen over all slides (highly variable genes of each slide, ranked by the number
of slides that choose them, as scanpy's ``highly_variable_genes(batch_key=...)``), the
log-normalised expression is centred per slide (removes a slide-wide shift of every gene,
e.g. a batch effect or a different chemistry; off when the cohort corrects with Harmony or
not at all: ``uns[SETUP_KEY]['centre']``), and the spot graph is block-diagonal: each
slide's own graph, no edge between slides, except between aligned adjacent sections of one
block (``uns[SETUP_KEY]['links']``, see :mod:`napari_scdl.align`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ModelSetupError

#: ``joint.uns[SETUP_KEY]`` of a cohort's joint AnnData (written by
#: :func:`napari_scdl.tl.cohort.joint_adata`): ``centre`` (centre genes per slide, default
#: True) and ``links`` (aligned adjacent sections: ``{"ref", "mov", "matrix", "k",
#: "max_dist"}``, ``matrix`` mapping ``mov``'s coordinates onto ``ref``'s)
SETUP_KEY = "cohort_setup"


class Batches(list):
    """``[(slide, spot indices), ...]`` plus what the cohort asks of the model: ``centre``
    (genes centred per slide) and ``links`` (edges between aligned adjacent sections)."""

    centre: bool = True
    links: tuple = ()


def batch_indices(adata, batch_key: str, *, one: bool = False) -> Batches:
    """``[(slide, spot indices), ...]`` in order of first appearance in ``obs[batch_key]``
    (``one``: a missing column means one slide, e.g. a new slide mapped onto a cohort)."""
    if batch_key not in adata.obs and one:
        return Batches([("", np.arange(adata.n_obs))])
    if batch_key not in adata.obs:
        raise ModelSetupError(
            f"batch_key={batch_key!r} is not a column of adata.obs; name the column that "
            "holds each spot's slide (napari_scdl.tl.cohort_domains writes 'sample_id')"
        )
    values = adata.obs[batch_key].astype(str).to_numpy()
    names = list(dict.fromkeys(values))
    out = Batches((name, np.flatnonzero(values == name)) for name in names)
    setup = adata.uns.get(SETUP_KEY) or {}
    out.centre = bool(setup.get("centre", True))
    links = setup.get("links") or {}
    out.links = tuple(links.values()) if isinstance(links, dict) else tuple(links)
    return out


def centre_per_batch(L, batches: Batches) -> np.ndarray:
    """Dense float32 copy of ``L`` with every gene centred on each slide's own mean (not
    centred when the cohort asks for no correction, or Harmony on the PCs instead)."""
    out = L.toarray() if sp.issparse(L) else np.array(L, dtype=np.float32)
    out = out.astype(np.float32, copy=False)
    if not getattr(batches, "centre", True):
        return out
    for _, idx in batches:
        out[idx] -= out[idx].mean(0, keepdims=True)
    return out


def joint_genes(model, adata, expr, batches: Batches, n_top_genes: int) -> np.ndarray:
    """Mask of ``n_top_genes`` genes: each slide's highly variable genes
    (:func:`~napari_scdl.preprocessing.select_genes`), ranked by how many slides chose
    them, ties by the fraction of spots (over all slides) where the gene is detected.
    Notes become ``model`` warnings; what was done is recorded in ``model.preprocessing``."""
    import anndata as ad

    from ..preprocessing import select_genes

    X = expr.X
    votes = np.zeros(X.shape[1], dtype=np.int64)
    flavors: list[str] = []
    for name, idx in batches:
        sub = ad.AnnData(X=X[idx])
        sel = select_genes(sub, n_top_genes)
        votes += sel.mask
        flavors.append(sel.flavor)
        for note in sel.notes:
            model.warn(f"slide {name}: {note}")
    for note in expr.notes:
        model.warn(note)
    detected = np.asarray((X > 0).mean(0)).ravel()
    n = int(min(n_top_genes if n_top_genes > 0 else X.shape[1], (votes > 0).sum()))
    order = np.lexsort((-detected, -votes))  # most votes first, then most detected
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[order[:n]] = True
    model.preprocessing = {
        "input_values": expr.kind,
        "input_source": expr.source,
        "gene_selection": {
            "flavor": "per-slide " + "/".join(sorted(set(flavors))) + ", ranked by slides",
            "n_genes": int(mask.sum()),
            "n_slides": len(batches),
            "in_all_slides": int((votes[mask] == len(batches)).sum()),
        },
    }
    return mask


def block_graph(adata, batches: Batches, *, n_neighbors: int) -> sp.csr_matrix:
    """Each slide's :func:`~napari_scdl.graph.build_graph` on the diagonal, in ``adata``'s
    spot order (no edge between slides), plus the edges between aligned adjacent sections
    (``batches.links``: :func:`link_edges`)."""
    from ..graph import build_graph

    rows, cols = [], []
    for _, idx in batches:
        g = sp.coo_matrix(build_graph(adata[idx], n_neighbors=n_neighbors))
        rows.append(idx[g.row])
        cols.append(idx[g.col])
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = adata.n_obs
    graph = sp.csr_matrix((np.ones(r.size, dtype=np.float32), (r, c)), shape=(n, n))
    cross = link_edges(adata, batches)
    if cross is not None:
        graph = ((graph + cross) > 0).astype(np.float32).tocsr()
    return graph


def link_edges(adata, batches: Batches) -> sp.csr_matrix | None:
    """Edges between aligned adjacent sections: each spot's ``k`` nearest spots on the
    linked section (after mapping it onto the reference) within ``max_dist`` pixels."""
    from ..align import cross_adjacency

    if not getattr(batches, "links", ()):
        return None
    where = dict(batches)
    xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)[:, :2]
    total = sp.csr_matrix((adata.n_obs, adata.n_obs), dtype=np.float32)
    for link in batches.links:
        ref, mov = where.get(str(link["ref"])), where.get(str(link["mov"]))
        if ref is None or mov is None:
            continue
        M = np.asarray(link["matrix"], dtype=np.float64)
        moved = xy[mov] @ M[:2, :2].T + M[:2, 2]
        total = total + cross_adjacency(adata.n_obs, ref, mov, xy[ref], moved,
                                        k=int(link.get("k", 3)),
                                        max_dist=float(link["max_dist"]))
    return total.tocsr()


def histology_block_weights(adata, adjacency, batches: Batches) -> sp.csr_matrix | None:
    """Histology edge weights computed slide by slide (each slide's image is
    ``uns['spatial'][slide]``; features standardised within the slide), or None when a
    slide has no image."""
    from ..histology import spot_image_features
    from ..models.domain_gcn import histology_weights

    libs = adata.uns.get("spatial", {}) or {}
    rows, cols, vals = [], [], []
    same = np.zeros(adata.n_obs, dtype=np.int64)
    for b, (_, idx) in enumerate(batches):
        same[idx] = b
    for name, idx in batches:
        if name not in libs:
            return None
        feats = spot_image_features(adata[idx], library_id=name)
        if feats is None:
            return None
        w = sp.coo_matrix(histology_weights(adjacency[idx][:, idx], feats))
        rows.append(idx[w.row])
        cols.append(idx[w.col])
        vals.append(w.data)
    n = adata.n_obs
    a = sp.coo_matrix(adjacency)
    across = same[a.row] != same[a.col]  # edges between aligned sections: a median weight
    if across.any():
        w = float(np.median(np.concatenate(vals))) if vals else 1.0
        rows.append(a.row[across])
        cols.append(a.col[across])
        vals.append(np.full(int(across.sum()), w, dtype=np.float32))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
