"""Expression preprocessing shared by the models (on a copy: the user's data is not changed)."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from .errors import ScdlError

logger = logging.getLogger(__name__)


def counts_matrix(adata, layer: str | None = None) -> sp.csr_matrix:
    """Raw counts as float32 CSR from ``layers[layer]`` (or ``layers['counts']``, else ``X``)."""
    if layer is not None:
        if layer not in adata.layers:
            raise ScdlError(f"layer {layer!r} not in adata.layers ({list(adata.layers)})")
        X = adata.layers[layer]
    elif "counts" in adata.layers:
        X = adata.layers["counts"]
    else:
        X = adata.X
    X = sp.csr_matrix(X, dtype=np.float32)
    if X.nnz and (X.data.min() < 0):
        raise ScdlError(
            "the expression matrix has negative values: models need raw counts in adata.X "
            "or adata.layers['counts']"
        )
    return X


def select_hvg(adata, n_top_genes: int = 3000, layer: str | None = None) -> np.ndarray:
    """Boolean mask of the ``n_top_genes`` highly variable genes (Seurat v3 flavour on counts,
    falling back to dispersion on log data when scikit-misc is unavailable)."""
    import anndata as ad
    import scanpy as sc

    X = counts_matrix(adata, layer)
    n_top = min(n_top_genes, X.shape[1])
    if n_top >= X.shape[1]:
        return np.ones(X.shape[1], dtype=bool)
    tmp = ad.AnnData(X=X.copy())
    try:
        sc.pp.highly_variable_genes(tmp, flavor="seurat_v3", n_top_genes=n_top)
    except ImportError:
        sc.pp.normalize_total(tmp, target_sum=1e4)
        sc.pp.log1p(tmp)
        sc.pp.highly_variable_genes(tmp, flavor="seurat", n_top_genes=n_top)
    return tmp.var["highly_variable"].to_numpy()


def log_normalize(X: sp.spmatrix, target_sum: float = 1e4) -> sp.csr_matrix:
    """Library-size normalise to ``target_sum`` and ``log1p`` (CSR in, CSR out)."""
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    totals = np.asarray(X.sum(1)).ravel()
    totals[totals == 0] = 1
    X = sp.diags((target_sum / totals).astype(np.float32)) @ X
    X.data = np.log1p(X.data)
    return sp.csr_matrix(X)


def standardise_genes(
    X, *, scale: bool, mean: np.ndarray | None = None, sd: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense ``X`` centred (on ``mean``, default its own gene means) and, when ``scale``,
    divided by ``sd`` (default its own, zeros -> 1) and clipped to +-10 (scanpy's
    ``scale(max_value=10)``). Returns ``(X_std, mean, sd)``; ``sd`` is ones without ``scale``."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float32)
    mean = Xd.mean(0) if mean is None else mean
    Xd = Xd - mean
    if not scale:
        return Xd, mean, np.ones(Xd.shape[1], dtype=Xd.dtype)
    if sd is None:
        sd = Xd.std(0)
        sd[sd == 0] = 1
    return np.clip(Xd / sd, -10, 10), mean, sd


def pca(X, n_comps: int = 50, *, seed: int = 0, scale: bool = True) -> np.ndarray:
    """PCA of (log) expression; genes standardised first when ``scale``."""
    from sklearn.decomposition import PCA

    Xd, _, _ = standardise_genes(X, scale=scale)
    n_comps = int(min(n_comps, Xd.shape[0] - 1, Xd.shape[1]))
    return PCA(n_components=n_comps, random_state=seed, svd_solver="randomized").fit_transform(Xd).astype(np.float32)


def fit_projection(
    L, n_pcs: int, *, seed: int = 0, scale: bool = False
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """PCA of log expression ``L`` (spots x genes; genes standardised when ``scale``),
    divided by the first component's standard deviation, kept so that another sample can
    be projected the same way. Returns the projection (for :func:`apply_projection`) and
    the projected features of ``L``."""
    from sklearn.decomposition import PCA

    Xd, mean, sd = standardise_genes(L, scale=scale)
    n = int(min(n_pcs, Xd.shape[0] - 1, Xd.shape[1]))
    model = PCA(n_components=n, random_state=seed, svd_solver="randomized").fit(Xd)
    pcs = (Xd - model.mean_) @ model.components_.T  # exactly what apply_projection computes
    div = max(float(pcs[:, 0].std()), 1e-8)
    proj = {
        "mean": mean,
        "sd": sd,
        "scale": np.asarray(scale),
        "pca_mean": model.mean_,
        "components": model.components_,
        "divisor": np.asarray(div),
    }
    return proj, (pcs / div).astype(np.float32)


def apply_projection(L, proj: dict[str, np.ndarray], *, own_mean: bool = False) -> np.ndarray:
    """Features of log expression ``L`` under a :func:`fit_projection` projection; with
    ``own_mean`` genes are centred on ``L``'s own means (removes a sample-wide shift)."""
    Xd, _, _ = standardise_genes(
        L,
        scale=bool(proj["scale"]),
        mean=None if own_mean else proj["mean"],
        sd=proj["sd"],
    )
    pcs = (Xd - proj["pca_mean"]) @ proj["components"].T
    return (pcs / float(proj["divisor"])).astype(np.float32)
