"""Shapes of real slides that the defaults must survive, built from the shared real data.

Each builder returns a new AnnData read by our own reader and then changed the way other
slides differ from 151673 (issue 12): a sparse CytAssist-like slide, a tiny section, a
targeted panel of normalised floats, scaled values, a legacy ST square grid. Used by
``tests/test_robust_defaults.py`` and ``benchmarks/bench_small_inputs.py``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tests_paths import SHARED

DLPFC = SHARED / "dlpfc151673"
HER2 = SHARED / "her2st"


def read_dlpfc():
    from napari_scdl.io import read

    return read(DLPFC)


def crop(adata, n_spots: int):
    """The ``n_spots`` spots nearest to the tissue's centre: a contiguous small section
    (a copy; its image stays, so histology still applies)."""
    xy = np.asarray(adata.obsm["spatial"], dtype=float)
    d = ((xy - np.median(xy, axis=0)) ** 2).sum(1)
    keep = np.sort(np.argsort(d, kind="stable")[:n_spots])
    return adata[keep].copy()


def sparse_slide(adata, *, median_umis: float = 230, n_once: int = 2000, n_zero: int = 8000,
                 seed: int = 0):
    """A CytAssist-like sparse slide: counts binomially thinned to ``median_umis`` per spot,
    plus ``n_once`` genes detected with a single count in one spot each (they make the Seurat
    v3 loess fit singular) and ``n_zero`` genes never detected."""
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(adata.X, dtype=np.float32, copy=True)
    p = min(1.0, median_umis / float(np.median(np.asarray(X.sum(1)).ravel())))
    X.data = rng.binomial(X.data.astype(np.int64), p).astype(np.float32)
    X.eliminate_zeros()
    n = X.shape[0]
    once = sp.csr_matrix(
        (np.ones(n_once, np.float32), (rng.integers(0, n, n_once), np.arange(n_once))),
        shape=(n, n_once),
    )
    zero = sp.csr_matrix((n, n_zero), dtype=np.float32)
    var = pd.DataFrame(
        index=list(adata.var_names)
        + [f"ONCE{i}" for i in range(n_once)]
        + [f"ZERO{i}" for i in range(n_zero)]
    )
    out = ad.AnnData(
        X=sp.hstack([X, once, zero]).tocsr(),
        obs=adata.obs.copy(),
        var=var,
        obsm={"spatial": np.asarray(adata.obsm["spatial"]).copy()},
        uns={k: v for k, v in adata.uns.items() if k == "spatial"},
    )
    return out


def panel_table(adata, *, n_genes: int = 33, seed: int = 0):
    """A targeted-panel cell table (osmFISH/MERFISH-like): ``n_genes`` genes, values
    normalised to 1e4 and ``log1p`` (floats, no raw counts), no image."""
    import anndata as ad

    X = sp.csr_matrix(adata.X, dtype=np.float32)
    detected = np.flatnonzero(np.asarray((X > 0).sum(0)).ravel() >= 0.2 * X.shape[0])
    genes = np.sort(np.random.default_rng(seed).choice(detected, n_genes, replace=False))
    tot = np.asarray(X.sum(1)).ravel()
    tot[tot == 0] = 1
    L = (sp.diags(1e4 / tot) @ X[:, genes]).toarray()
    out = ad.AnnData(
        X=np.log1p(L).astype(np.float32),
        obs=adata.obs[[]].copy(),
        var=adata.var.iloc[genes][[]].copy(),
        obsm={"spatial": np.asarray(adata.obsm["spatial"]).copy()},
    )
    return out


def scaled_table(adata):
    """What ``sc.pp.normalize_total; log1p; scale`` leaves in ``X`` (negative values, no
    raw), no image."""
    import anndata as ad
    import scanpy as sc

    out = ad.AnnData(
        X=sp.csr_matrix(adata.X, dtype=np.float32),
        obs=adata.obs[[]].copy(),
        var=adata.var[[]].copy(),
        obsm={"spatial": np.asarray(adata.obsm["spatial"]).copy()},
    )
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    sc.pp.highly_variable_genes(out, n_top_genes=2000, subset=True)
    sc.pp.scale(out, max_value=10)
    return out


def her2_section(name: str = "A1"):
    """A real legacy ST section (square-ish grid, 100 µm spots, no image)."""
    import anndata as ad

    return ad.read_h5ad(HER2 / f"{name}.h5ad")


def shapes(n_spots: int = 300) -> dict:
    """Every shape, at about ``n_spots`` spots where the shape allows a crop (the tiny
    section has 150)."""
    full = read_dlpfc()
    small = crop(full, n_spots)
    return {
        "sparse": sparse_slide(small),
        "tiny": crop(full, 150),
        "panel33": panel_table(small),
        "scaled": scaled_table(small),
        "legacy_st": her2_section("A1"),
    }
