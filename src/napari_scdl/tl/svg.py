"""Spatially variable genes: Moran's I over the sparse spot graph, slide-wide or within a domain.

Moran's I (Moran 1950, Biometrika) with its analytic (normal approximation) p-value and,
on request, a permutation p-value, both Benjamini-Hochberg adjusted; computed by
squidpy's ``sq.gr.spatial_autocorr`` (Palla et al. 2022, Nature Methods) on a
log-normalised copy of the expression.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ScdlError
from .expression import log_expression, resolve_genes, resolve_normalize

logger = logging.getLogger(__name__)

SVG_COLUMNS = ["gene", "I", "pval", "pval_adj", "pval_norm", "pct", "mean"]


def spatially_variable_genes(
    adata,
    *,
    genes: Sequence[str] | None = None,
    n_top_genes: int | None = None,
    groupby: str | None = None,
    group: str | None = None,
    n_perms: int | None = None,
    seed: int = 0,
    layer: str | None = None,
    normalize: bool | None = None,
    graph_key: str | None = None,
    min_spots: int = 3,
    key_added: str = "moranI",
) -> pd.DataFrame:
    """Moran's I of each gene over the spatial graph, for the slide or one domain.

    Parameters
    ----------
    genes
        Genes to test; default: every gene detected in at least ``min_spots`` spots.
    n_top_genes
        Test only the ``n_top_genes`` most variable genes (of ``genes``), chosen with
        :func:`napari_scdl.preprocessing.select_hvg` on the spots analysed.
    groupby, group
        Restrict to the spots of ``group`` in ``obs[groupby]`` and to the edges between
        them (the domain's subgraph); spots left without a neighbour there are dropped.
    n_perms
        Number of permutations for an empirical p-value (``pval``); without it ``pval``
        is the analytic one. ``seed`` makes permutations reproducible.
    layer, normalize
        Expression source; raw counts are normalised to 1e4 and ``log1p`` on a copy.
    graph_key
        Use the graph stored in ``obsp[f"{graph_key}_connectivities"]``; default: build one
        with :func:`napari_scdl.graph.build_graph` (Visium hexagonal neighbours).
    min_spots
        Genes detected in fewer spots (of those analysed) are not tested.

    Returns
    -------
    DataFrame sorted by decreasing ``I`` with columns ``gene, I, pval, pval_adj,
    pval_norm, pct, mean`` (``pval_adj``: Benjamini-Hochberg of ``pval``; ``pct``,
    ``mean``: detection rate and mean log expression over the spots analysed).

    Writes
    ------
    ``uns[key_added]``
        ``{'table': DataFrame, 'params': {...}, 'versions': {...}}``.
    """
    from ..graph import get_graph

    adj = get_graph(adata, graph_key)
    spots = _spots(adata, groupby, group)
    adj = sp.csr_matrix(adj)[spots][:, spots]
    has_neighbour = np.asarray(adj.sum(1)).ravel() > 0
    if not has_neighbour.all():
        logger.info("dropped %d spots without a neighbour in the graph", (~has_neighbour).sum())
        spots, adj = spots[has_neighbour], adj[has_neighbour][:, has_neighbour]
    if len(spots) < 3:
        raise ScdlError(
            f"only {len(spots)} connected spots to analyse"
            + (f" in group {group!r} of obs[{groupby!r}]" if group is not None else "")
            + "; Moran's I needs at least 3"
        )
    do_norm = resolve_normalize(adata, layer, normalize)
    cols = _gene_columns(adata, genes)
    X = log_expression(adata, layer=layer, normalize=do_norm)
    if len(spots) < adata.n_obs:
        X = X[spots]
    if len(cols) < adata.n_vars or (np.diff(cols) != 1).any():
        X = X[:, cols]
    detected, total, squares = _gene_sums(X)
    keep = detected >= min_spots
    if n_top_genes is not None:
        keep &= _top_variable(total, squares, len(spots), keep, int(n_top_genes))
    if not keep.any():
        raise ScdlError(f"no gene is detected in at least {min_spots} of the spots analysed")
    tested = np.flatnonzero(keep)
    if n_perms is None and len(spots) > MORAN_BLOCK_SPOTS:
        df = _moran_large(X, adj, tested, sums=(total, squares))
    else:
        Xk = sp.csc_matrix(X)[:, tested] if sp.issparse(X) else np.asarray(X)[:, tested]
        df = _moran(Xk, adj, n_perms, seed)
    cols = cols[keep]
    names = np.asarray(adata.var_names.astype(str))[cols]
    df.insert(0, "gene", names)
    df["pct"] = detected[keep] / len(spots)
    df["mean"] = total[keep] / len(spots)
    df = df.sort_values("I", ascending=False, kind="stable").reset_index(drop=True)[SVG_COLUMNS]
    _store(
        adata,
        df,
        key_added,
        dict(
            groupby=groupby,
            group=group,
            n_perms=n_perms,
            seed=int(seed),
            layer=layer or "X",
            normalized=do_norm,
            graph_key=graph_key,
            n_spots=int(len(spots)),
            n_genes=int(len(df)),
            n_top_genes=n_top_genes,
            min_spots=int(min_spots),
        ),
    )
    return df


def _spots(adata, groupby: str | None, group: str | None) -> np.ndarray:
    if groupby is None and group is None:
        return np.arange(adata.n_obs)
    if groupby is None or group is None:
        raise ScdlError("give both groupby and group to analyse one domain (or neither)")
    from .markers import group_labels

    labels = group_labels(adata, groupby, min_groups=1)
    if str(group) not in set(labels.categories):
        raise ScdlError(
            f"group {group!r} is not in obs[{groupby!r}] ({[str(c) for c in labels.categories]})"
        )
    return np.flatnonzero(np.asarray(labels == str(group)))


def _gene_columns(adata, genes) -> np.ndarray:
    if genes is None:
        return np.arange(adata.n_vars)
    return np.asarray(resolve_genes(adata, genes), dtype=np.int64)


def _gene_sums(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per gene: spots where detected, sum and sum of squares of the log values."""
    if sp.issparse(X):
        from ._moran_sparse import column_sums

        return column_sums(sp.csr_matrix(X))
    X = np.asarray(X, dtype=np.float64)
    return (X > 0).sum(0), X.sum(0), (X * X).sum(0)


def _top_variable(total, squares, n: int, keep: np.ndarray, n_top: int) -> np.ndarray:
    """Mask of the ``n_top`` genes (among ``keep``) with the largest variance of log values."""
    if n_top < 1:
        raise ScdlError(f"n_top_genes must be a positive number, not {n_top}")
    mean = total / n
    var = np.where(keep, squares / n - mean**2, -np.inf)
    top = np.argsort(-var, kind="stable")[: min(n_top, int(keep.sum()))]
    mask = np.zeros_like(keep)
    mask[top] = True
    return mask


#: above this many spots, Moran's I without permutations is computed here
#: (:func:`_moran_large`: squidpy's statistic and analytic p-value, without its dense
#: genes x spots copy: 1,000 genes at 1M spots would be 8 GB)
MORAN_BLOCK_SPOTS = 50_000


def _moran_large(X, adj: sp.csr_matrix, genes: np.ndarray, sums=None) -> pd.DataFrame:
    """Moran's I of the columns ``genes`` of ``X`` over the row-normalised ``adj``
    (squidpy's ``transformation=True``) with the analytic one-tailed p-value under
    normality (squidpy's ``pval_norm``, pysal/esda's formula): sparse input through
    :func:`._moran_sparse.moran_sparse`, dense input one gene block at a time."""
    from scipy import stats

    from .markers import benjamini_hochberg

    w = sp.csr_matrix(adj, dtype=np.float64)
    rs = np.asarray(w.sum(1)).ravel()
    rs[rs == 0] = 1
    w = sp.csr_matrix(sp.diags(1.0 / rs) @ w)
    n = w.shape[0]
    s0 = float(w.sum())
    t = w + w.T
    s1 = float(t.multiply(t).sum()) / 2.0
    s2 = float(((np.asarray(w.sum(1)).ravel() + np.asarray(w.sum(0)).ravel()) ** 2).sum())
    if sp.issparse(X):
        from ._moran_sparse import moran_sparse

        scores = moran_sparse(X, w, genes, sums=sums)
    else:
        scores = np.empty(len(genes))
        for g0 in range(0, len(genes), MORAN_BLOCK_GENES):
            z = np.array(X[:, genes[g0: g0 + MORAN_BLOCK_GENES]], dtype=np.float64)
            z -= z.mean(0)
            with np.errstate(divide="ignore", invalid="ignore"):
                scores[g0: g0 + MORAN_BLOCK_GENES] = n / s0 * (z * (w @ z)).sum(0) / (z * z).sum(0)
    expected = -1.0 / (n - 1)
    var = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n - 1) * (n + 1) * s0 * s0) - expected**2
    zs = (scores - expected) / np.sqrt(var)
    pval = np.where(zs > 0, stats.norm.sf(zs), stats.norm.cdf(zs))
    out = pd.DataFrame({"I": scores, "pval": pval, "pval_norm": pval})
    out["pval_adj"] = benjamini_hochberg(out["pval"].to_numpy())
    return out


#: genes per dense block in :func:`_moran_large` (dense input)
MORAN_BLOCK_GENES = 64


def _moran(X, adj: sp.csr_matrix, n_perms: int | None, seed: int) -> pd.DataFrame:
    import anndata as ad

    from ..graph import import_squidpy

    sq = import_squidpy()
    tmp = ad.AnnData(X=X if not sp.issparse(X) else sp.csr_matrix(X))
    tmp.var_names = [str(i) for i in range(X.shape[1])]
    tmp.obsp["spatial_connectivities"] = adj
    if n_perms is not None and int(n_perms) < 1:
        raise ScdlError(f"n_perms must be a positive number (or None), not {n_perms}")
    res = sq.gr.spatial_autocorr(
        tmp,
        mode="moran",
        genes=list(tmp.var_names),
        n_perms=n_perms,
        seed=int(seed),
        corr_method="fdr_bh",
        n_jobs=1,
        show_progress_bar=False,
        copy=True,
    )
    res = res.loc[tmp.var_names]
    pval = res["pval_sim"] if n_perms else res["pval_norm"]
    out = pd.DataFrame(
        {
            "I": res["I"].to_numpy(dtype=float),
            "pval": pval.to_numpy(dtype=float),
            "pval_norm": res["pval_norm"].to_numpy(dtype=float),
        }
    )
    from .markers import benjamini_hochberg

    out["pval_adj"] = benjamini_hochberg(out["pval"].to_numpy())
    return out


def _store(adata, df: pd.DataFrame, key: str, params: dict) -> None:
    from .._settings import versions

    params = {k: v for k, v in params.items() if v is not None}
    adata.uns[key] = {"table": df.copy(), "params": params, "versions": versions()}
    logger.info("wrote uns['%s'] (%d genes over %d spots)", key, len(df), params["n_spots"])
