"""Compare results on the tissue: cluster any embedding, pairwise agreement, disagreement map."""

from __future__ import annotations

import logging
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import MissingKeyError, ScdlError

logger = logging.getLogger(__name__)

__all__ = ["cluster", "compare", "disagreement"]


def cluster(
    adata,
    *,
    use_rep: str,
    n_clusters: int,
    key_added: str | None = None,
    method: Literal["gmm", "kmeans", "leiden"] = "gmm",
    seed: int = 0,
    refine: bool = False,
) -> list[str]:
    """Cluster any embedding in ``adata.obsm`` into ``n_clusters`` groups, written like
    the spatial domains so that it can be shown on the tissue the same way.

    Parameters
    ----------
    use_rep
        ``obsm`` key of the embedding (``"X_vae"``; ``"vae"`` also finds ``"X_vae"``).
    n_clusters
        Number of clusters.
    key_added
        Where to write; default ``f"{use_rep}_clusters"`` without the ``X_`` prefix.
    method
        ``gmm`` (tied covariance, the mclust EEE analogue), ``kmeans`` or ``leiden``
        (see :func:`napari_scdl.clustering.cluster_embedding`).
    seed
        Random seed of the clustering.
    refine
        Smooth the labels by neighbourhood majority over the spatial graph (needs
        ``obsm['spatial']``).

    Returns
    -------
    The keys written: ``obs[key_added]`` (categorical cluster labels, largest cluster
    "0"), ``obs[f"{key_added}_confidence"]`` (0..1, the domains' rule,
    :func:`napari_scdl.clustering.spot_confidence`, over the spatial graph when the sample
    has coordinates, else over nearest neighbours in the embedding) and ``uns[key_added]``
    (``params``, ``model="cluster"``, ``seed``, ``confidence_method``).
    """
    from .._settings import versions
    from ..clustering import CONFIDENCE_METHOD, cluster_embedding, spot_confidence
    from ..models._results import write_result

    rep = _find_rep(adata, use_rep)
    key = key_added or f"{rep.removeprefix('X_')}_clusters"
    from ..graph import build_graph

    adjacency = None
    if refine:
        adjacency = build_graph(adata)
    elif "spatial" in adata.obsm:
        try:  # only for the confidence; without a graph it uses the embedding's neighbours
            adjacency = build_graph(adata)
        except ScdlError as err:
            logger.info("confidence over the embedding's neighbours: %s", err)
    embedding = np.asarray(adata.obsm[rep])
    labels, _posterior = cluster_embedding(
        embedding,
        n_clusters,
        method=method,
        seed=seed,
        adjacency=adjacency if refine else None,
        refine=refine,
    )
    conf = spot_confidence(labels, adjacency=adjacency, embedding=embedding)
    info = {
        "model": "cluster",
        "params": {
            "use_rep": rep,
            "n_clusters": int(n_clusters),
            "method": method,
            "refine": bool(refine),
        },
        "seed": int(seed),
        "versions": versions(),
        "confidence_method": CONFIDENCE_METHOD,
    }
    return write_result(adata, key, labels=labels, confidence=conf, info=info)


def compare(
    adata,
    keys: list[str],
    *,
    form: Literal["long", "ari", "nmi"] = "long",
) -> pd.DataFrame:
    """Pairwise agreement of two or more labelings in ``adata.obs`` (clusterings, domains,
    a ground truth), over the spots labelled in both of each pair.

    Parameters
    ----------
    keys
        ``obs`` columns to compare (at least two).
    form
        ``long``: one row per pair with columns ``key_a, key_b, ari, nmi, accuracy,
        n_spots`` (accuracy after optimal one-to-one label matching); ``ari`` / ``nmi``:
        a square table of that score indexed by ``keys`` (diagonal 1).

    Nothing is written into ``adata``.
    """
    from .. import metrics

    keys = list(dict.fromkeys(keys))
    if len(keys) < 2:
        raise ScdlError(f"compare needs at least two result keys, got {keys}")
    _check_obs(adata, keys)
    rows = []
    for a, b in combinations(keys, 2):
        la, lb = adata.obs[a], adata.obs[b]
        ok = metrics.valid_mask(la, lb)
        rows.append(
            {
                "key_a": a,
                "key_b": b,
                "ari": metrics.ari(la, lb),
                "nmi": metrics.nmi(la, lb),
                "accuracy": metrics.accuracy(la, lb),
                "n_spots": int(ok.sum()),
            }
        )
    long = pd.DataFrame(rows)
    if form == "long":
        return long
    if form not in ("ari", "nmi"):
        raise ScdlError(f"form must be 'long', 'ari' or 'nmi', not {form!r}")
    square = pd.DataFrame(np.eye(len(keys)), index=keys, columns=keys)
    for r in rows:
        square.loc[r["key_a"], r["key_b"]] = square.loc[r["key_b"], r["key_a"]] = r[form]
    return square


def disagreement(
    adata,
    key_a: str,
    key_b: str,
    *,
    key_added: str | None = None,
) -> np.ndarray:
    """Spots where two labelings disagree after the optimal one-to-one matching of
    ``key_b``'s labels onto ``key_a``'s (Hungarian algorithm; see
    :func:`napari_scdl.metrics.match_labels`).

    Returns a boolean array (n_spots); spots unlabelled in either are ``False``. With
    ``key_added``, also writes ``obs[key_added]`` (that boolean) and ``uns[key_added]``
    (``key_a``, ``key_b``, ``mapping`` of b's labels to a's, ``fraction`` disagreeing).
    """
    from .. import metrics

    _check_obs(adata, [key_a, key_b])
    la, lb = adata.obs[key_a], adata.obs[key_b]
    ok = metrics.valid_mask(la, lb)
    mapping = metrics.match_labels(la, lb)
    a = la.astype(str).to_numpy()
    b = np.array([mapping.get(v) for v in lb.astype(str)], dtype=object)
    out = ok & (b != a)
    frac = float(out[ok].mean()) if ok.any() else 0.0
    logger.info("%s vs %s: %d of %d spots disagree", key_a, key_b, out.sum(), ok.sum())
    if key_added:
        adata.obs[key_added] = out
        adata.uns[key_added] = {
            "key_a": key_a,
            "key_b": key_b,
            "mapping": mapping,
            "fraction": frac,
        }
        logger.info("wrote obs['%s'], uns['%s']", key_added, key_added)
    return out


def _find_rep(adata, use_rep: str) -> str:
    for cand in (use_rep, f"X_{use_rep}"):
        if cand in adata.obsm:
            return cand
    raise MissingKeyError(
        f"adata.obsm has no embedding {use_rep!r} (available: {list(adata.obsm)}); run a model "
        "first, e.g. napari_scdl.tl.run_model(adata, 'vae')"
    )


def _check_obs(adata, keys: list[str]) -> None:
    missing = [k for k in keys if k not in adata.obs.columns]
    if missing:
        raise MissingKeyError(
            f"adata.obs has no column(s) {missing} (available: {list(adata.obs.columns)}); run "
            "the models or napari_scdl.tl.cluster(...) that write them first"
        )
