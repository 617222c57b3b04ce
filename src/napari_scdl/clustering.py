"""Clustering of a spot embedding into domains, with a per-spot confidence.

* ``gmm``: Gaussian mixture with one covariance shared by all components
  (``covariance_type="tied"``), the Python analogue of R mclust's ``EEE`` model that
  GraphST and STAGATE call through rpy2, started like mclust from a hierarchical
  clustering (Ward) rather than from random k-means. Confidence is the posterior
  probability of the assigned component.
* ``kmeans``: k-means; confidence is a soft assignment from squared distances to the
  centroids under a shared isotropic Gaussian.
* ``leiden``: Leiden on a kNN graph of the embedding with the resolution bisected until
  it gives ``n_clusters``; confidence is the fraction of a spot's kNN with its label.

``refine=True`` brings in the spatial graph. ``refine_method="potts"`` (the default) fits
the mixture again with a Potts prior over the graph (a hidden Markov random field, as in
BayesSpace/BASS: :func:`napari_scdl.spatial_prior.potts_labels`), so neighbours decide a
spot only where its expression leaves the choice open; ``"majority"`` is the
neighbourhood majority vote of SpaGCN / GraphST (a spot whose label is held by less than
half of its neighbours takes its neighbours' majority label).

The models write :func:`spot_confidence`, not the mixture posterior (which is ~1 for most
spots whether or not the domain is right): Laplace's rule of succession over the votes of
the restarts' partitions on the spot and its neighbours (:data:`CONFIDENCE_METHOD`).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable
from typing import Literal

import numpy as np
import scipy.sparse as sp

from .errors import ScdlError

logger = logging.getLogger(__name__)

ClusterMethod = Literal["gmm", "kmeans", "leiden"]
RefineMethod = Literal["potts", "majority"]

#: EM starts of the ``gmm`` mixture (one from Ward, the others from k-means)
GMM_STARTS = 10

#: above this many spots the ``gmm`` mixture's EM runs on this many spots drawn with the
#: seed, and every spot gets its posterior from the fitted mixture (one E-step over all):
#: a 1M-spot slide fits in the time of 50k (below, all spots, as before)
GMM_FIT_SPOTS = 50_000

#: neighbours of a spot in the embedding when there is no spatial graph (scanpy's default)
EMBEDDING_NEIGHBORS = 15

#: what :func:`spot_confidence` computes (stored in ``uns[key]['confidence_method']``)
CONFIDENCE_METHOD = (
    "rule of succession (m + 1) / (N + 2) over the N votes of the partitions (the kept one "
    "and the other restarts, labels matched by the Hungarian algorithm) on the spot and its "
    "graph neighbours, m of them for the spot's domain (spatial graph, else "
    f"{EMBEDDING_NEIGHBORS} nearest neighbours in the embedding)"
)


def cluster_embedding(
    emb: np.ndarray,
    n_clusters: int,
    *,
    method: ClusterMethod = "gmm",
    seed: int = 0,
    adjacency: sp.spmatrix | None = None,
    refine: bool = False,
    n_init: int = GMM_STARTS,
    refine_method: RefineMethod = "potts",
    potts_beta: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``emb`` (n_spots x d) into ``n_clusters`` groups.

    Parameters
    ----------
    emb
        Embedding, one row per spot.
    n_clusters
        Number of clusters (>= 1, < number of spots).
    method
        ``gmm`` (tied covariance, ~ mclust EEE), ``kmeans`` or ``leiden``.
    seed
        Random seed of the clustering (local).
    adjacency
        Sparse spatial adjacency (n_spots x n_spots), needed when ``refine``.
    refine
        Use ``adjacency``: the Potts prior or the majority vote (``refine_method``).
    refine_method
        ``potts``: the tied Gaussian mixture again, with a Potts prior of ``potts_beta``
        per neighbour, started from the mixture's clusters; ``majority``: neighbourhood
        majority vote.
    potts_beta
        Potts interaction (default :data:`napari_scdl.spatial_prior.POTTS_BETA`).
    n_init
        ``gmm``: EM starts (one from a Ward clustering, the others from k-means); the
        mixture with the highest likelihood is kept.

    Returns
    -------
    labels
        int64 array, clusters numbered 0..k-1 from the largest to the smallest.
    confidence
        float32 array in [0, 1]: the probability of each spot's (final) label.
    """
    emb = _check_embedding(emb, n_clusters)
    if method == "gmm":
        prob = _gmm_proba(emb, n_clusters, seed, n_init=n_init)
    elif method == "kmeans":
        prob = _kmeans_proba(emb, n_clusters, seed)
    elif method == "leiden":
        prob = _leiden_proba(emb, n_clusters, seed)
    else:
        raise ScdlError(f"unknown clustering method {method!r}; use 'gmm', 'kmeans' or 'leiden'")
    labels = prob.argmax(1)
    if refine:
        if adjacency is None:
            raise ScdlError("refine=True needs the spatial adjacency (adjacency=...)")
        if refine_method == "potts":
            from .spatial_prior import POTTS_BETA, potts_labels

            beta = POTTS_BETA if potts_beta is None else float(potts_beta)
            labels, prob = potts_labels(emb, labels, adjacency, beta=beta)
        elif refine_method == "majority":
            labels = refine_labels(labels, adjacency)
        else:
            raise ScdlError(f"unknown refine_method {refine_method!r}; use 'potts' or 'majority'")
    labels, prob = _order_by_size(labels, prob)
    conf = prob[np.arange(len(labels)), labels]
    return labels.astype(np.int64), np.clip(conf, 0, 1).astype(np.float32)


def spot_confidence(
    labels: np.ndarray,
    *,
    adjacency: sp.spmatrix | None = None,
    embedding: np.ndarray | None = None,
    alternatives: Iterable[np.ndarray] = (),
) -> np.ndarray:
    """Label-free confidence of each spot's cluster meant to be read as the probability
    that it is right (:data:`CONFIDENCE_METHOD`).

    Every partition (``labels`` and each of ``alternatives``, e.g. other random restarts,
    their labels matched to ``labels`` by the Hungarian algorithm) casts one vote per spot
    of the neighbourhood (the spot and its graph neighbours); of these ``N`` votes, ``m``
    give the spot's label, and the confidence is Laplace's rule of succession
    ``(m + 1) / (N + 2)``. A Visium spot whose 6 neighbours share its domain in 3 partitions
    gets 22/23 = 0.96; one on a boundary, 3 of 6, about 0.6; nothing is fitted. Among the
    rules of this form (neighbours only, one or two rings, times agreement) this one was
    the best calibrated on synthetic slides; its calibration on real slides is in
    ``docs/domains.md``.

    Parameters
    ----------
    labels
        Cluster of each spot (integers 0..k-1).
    adjacency
        Sparse spatial graph (n_spots x n_spots; weights ignored, self-loops dropped).
    embedding
        Used instead when ``adjacency`` is None: the graph of the
        :data:`EMBEDDING_NEIGHBORS` nearest neighbours of each spot in it.
    alternatives
        Other partitions of the same spots.

    Returns
    -------
    float32 array in (0, 1).
    """
    labels = np.asarray(labels).astype(np.int64)
    n = labels.shape[0]
    if adjacency is None:
        if embedding is None:
            raise ScdlError("spot_confidence needs the spatial adjacency or the embedding")
        adjacency = _knn_graph(np.asarray(embedding, dtype=np.float64), EMBEDDING_NEIGHBORS)
    adj = neighbour_matrix(adjacency, n)
    hood = sp.csr_matrix(adj + sp.eye(n, dtype=np.float32))  # the spot and its neighbours
    rows = np.repeat(np.arange(n), np.diff(hood.indptr))
    partitions = [labels] + [match_partition(labels, other) for other in alternatives]
    votes = sum(
        np.bincount(rows, weights=(part[hood.indices] == labels[rows]), minlength=n)
        for part in partitions
    )
    total = len(partitions) * np.diff(hood.indptr)
    return ((votes + 1.0) / (total + 2.0)).astype(np.float32)



def neighbour_matrix(adjacency: sp.spmatrix, n: int, dtype=np.float32) -> sp.csr_matrix:
    """``adjacency`` as a 0/1 CSR matrix without self-loops (a copy; weights dropped),
    checked to be ``n`` x ``n``."""
    adj = sp.csr_matrix(adjacency, dtype=dtype, copy=True)
    if adj.shape != (n, n):
        raise ScdlError(f"adjacency is {adj.shape}, expected ({n}, {n}) for {n} spots")
    adj.setdiag(0)
    adj.eliminate_zeros()
    adj.data[:] = 1.0
    return adj

def match_partition(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other``'s labels renamed to ``reference``'s by the one-to-one matching that
    maximises the spots on which they agree (Hungarian algorithm); labels of ``other``
    left without a partner get new numbers above ``reference``'s."""
    from scipy.optimize import linear_sum_assignment

    ref, oth = np.asarray(reference).astype(np.int64), np.asarray(other).astype(np.int64)
    if ref.shape != oth.shape:
        raise ScdlError(f"the partitions have different lengths ({ref.size} and {oth.size})")
    k_ref, k_oth = int(ref.max()) + 1, int(oth.max()) + 1
    table = np.zeros((k_oth, k_ref))
    np.add.at(table, (oth, ref), 1)
    rows, cols = linear_sum_assignment(-table)
    new = np.arange(k_ref, k_ref + k_oth)
    new[rows] = cols
    return new[oth]


def _knn_graph(x: np.ndarray, k: int) -> sp.csr_matrix:
    from sklearn.neighbors import NearestNeighbors

    k = int(min(k, len(x) - 1))
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    graph = nn.kneighbors_graph(x, mode="connectivity")
    return sp.csr_matrix(graph.maximum(graph.T))


def refine_labels(labels: np.ndarray, adjacency: sp.spmatrix, *, n_iter: int = 1) -> np.ndarray:
    """Neighbourhood majority smoothing: a spot whose own label is held by fewer than half
    of its neighbours takes the most common neighbour label (ties keep the own label)."""
    labels = np.asarray(labels).astype(np.int64)
    n = labels.shape[0]
    adj = neighbour_matrix(adjacency, n)
    deg = np.asarray(adj.sum(1)).ravel()
    k = int(labels.max()) + 1
    for _ in range(n_iter):
        onehot = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), labels)), shape=(n, k))
        counts = np.asarray((adj @ onehot).todense())
        own = counts[np.arange(n), labels]
        best = counts.argmax(1)
        change = (deg > 0) & (own < deg / 2) & (counts[np.arange(n), best] > own)
        if not change.any():
            break
        labels = np.where(change, best, labels)
    return labels


def gaussian_classes(
    latent: np.ndarray, labels: np.ndarray, *, reg: float = 1e-4
) -> dict[str, np.ndarray]:
    """Class means, shared covariance (plus ``reg`` on its diagonal) and proportions of
    ``labels`` in ``latent``: a Gaussian classifier (the tied GMM's form) that puts spots of
    another slide into the same clusters."""
    classes = np.unique(labels)
    x = np.asarray(latent, dtype=np.float64)
    means = np.stack([x[labels == c].mean(0) for c in classes])
    resid = x - means[np.searchsorted(classes, labels)]
    cov = resid.T @ resid / len(x) + reg * np.eye(x.shape[1])
    weights = np.array([(labels == c).mean() for c in classes])
    return {"classes": classes, "means": means, "cov": cov, "weights": weights}


def partition_log_likelihood(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean per-spot log-likelihood of a partition of ``x`` under a Gaussian mixture with
    one shared covariance (mclust ``EEE``), each spot counted in its own cluster, with the
    clusters' means, pooled covariance and proportions fitted to the partition (the
    classification likelihood, :func:`gaussian_classes`). Higher is better; comparable
    between partitions of the same ``x`` into the same number of clusters, whatever
    produced them."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    fit = gaussian_classes(x, labels, reg=0.0)
    d = x.shape[1]
    cov = fit["cov"] + 1e-6 * np.trace(fit["cov"]) / d * np.eye(d)
    own = np.searchsorted(fit["classes"], labels)
    resid = x - fit["means"][own]
    chol = np.linalg.cholesky(cov)
    maha = (np.linalg.solve(chol, resid.T) ** 2).sum(0)
    logdet = 2 * np.log(np.diag(chol)).sum()
    log_pi = np.log(fit["weights"])[own]
    return float(np.mean(-0.5 * (d * np.log(2 * np.pi) + logdet + maha) + log_pi))


def choose_n_clusters(
    emb: np.ndarray,
    k_range: Iterable[int],
    *,
    seed: int = 0,
    criterion: Literal["silhouette", "bic"] = "silhouette",
    max_spots: int = 5000,
) -> tuple[int, dict[int, float]]:
    """Pick the number of clusters in ``k_range`` for a tied-covariance GMM of ``emb``.

    ``silhouette`` (default; higher is better) scores each k's GMM labels with the mean
    silhouette width on up to ``max_spots`` spots; ``bic`` uses the GMM's Bayesian
    information criterion (reported negated so that higher is better for both).

    Returns
    -------
    best_k, scores
        The best k and ``{k: score}`` for every k tried (shown to the user).
    """
    from sklearn.metrics import silhouette_score

    Mixture = tied_mixture_class()
    ks = sorted({int(k) for k in k_range})
    emb = np.asarray(emb, dtype=np.float64)
    if not ks or ks[0] < 2:
        raise ScdlError(f"k_range must hold numbers of clusters >= 2, got {ks}")
    if ks[-1] >= emb.shape[0]:
        raise ScdlError(f"k_range goes up to {ks[-1]} but there are only {emb.shape[0]} spots")
    rng = np.random.default_rng(seed)
    sub = rng.choice(emb.shape[0], max_spots, replace=False) if emb.shape[0] > max_spots else None
    scores: dict[int, float] = {}
    for k in ks:
        gmm = Mixture(k, covariance_type="tied", random_state=seed, reg_covar=1e-4)
        gmm.fit(emb)
        if criterion == "bic":
            scores[k] = -float(gmm.bic(emb))
            continue
        labels = gmm.predict(emb)
        x, y = (emb, labels) if sub is None else (emb[sub], labels[sub])
        scores[k] = float(silhouette_score(x, y)) if len(np.unique(y)) > 1 else -1.0
    best = max(ks, key=lambda k: (scores[k], -k))
    logger.info("choose_n_clusters (%s): %s -> k=%d", criterion, scores, best)
    return best, scores


# -- helpers ------------------------------------------------------------------------------
def _check_embedding(emb: np.ndarray, n_clusters: int) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2:
        raise ScdlError(f"the embedding must be 2-D (spots x dims), got shape {emb.shape}")
    if not np.isfinite(emb).all():
        raise ScdlError("the embedding contains NaN or infinite values")
    n_clusters = int(n_clusters)
    if n_clusters < 1 or n_clusters >= emb.shape[0]:
        raise ScdlError(
            f"n_clusters={n_clusters} must be between 1 and the number of spots - 1 ({emb.shape[0] - 1})"
        )
    return emb


def _gmm_proba(
    emb: np.ndarray, k: int, seed: int, max_ward: int = 5000, n_init: int = GMM_STARTS
) -> np.ndarray:
    """Tied GMM, multi-start EM: one start, like mclust, from a hierarchical (Ward)
    clustering (of at most ``max_ward`` spots drawn with ``seed``) plus ``n_init - 1``
    k-means starts; the mixture with the highest likelihood bound is kept. On DLPFC 151673
    (5 training seeds of ``domain_gcn``) this raised the mean ARI from 0.520 (Ward start
    only) to 0.560."""
    Mixture = tied_mixture_class()
    fit_on = emb
    if len(emb) > GMM_FIT_SPOTS:  # EM on a subsample, the posterior of every spot
        rows = np.random.default_rng(seed).choice(len(emb), GMM_FIT_SPOTS, replace=False)
        fit_on = emb[np.sort(rows)]

    def fit(**init) -> Mixture:
        return Mixture(
            n_components=k, covariance_type="tied", reg_covar=1e-4, max_iter=300, **init
        ).fit(fit_on)

    best = fit(means_init=ward_means(fit_on, k, seed=seed, max_spots=max_ward), random_state=seed)
    for i in range(1, n_init):
        gmm = fit(random_state=(seed * 1000 + i) % 2**32)
        if gmm.lower_bound_ > best.lower_bound_:
            best = gmm
    return best.predict_proba(emb)


@functools.lru_cache(maxsize=1)
def tied_mixture_class() -> type:
    """scikit-learn's ``GaussianMixture`` whose E-step, with ``covariance_type="tied"``,
    projects the spots onto the shared precision's Cholesky factor once instead of once per
    component (scikit-learn's formula, term for term: the same numbers, bit for bit, at
    a seventh of the cost for 7 components; the E-step was a third of a Visium slide's
    ``domains`` run). The EM loop, starts, M-step and stopping rule are scikit-learn's."""
    from sklearn.mixture import GaussianMixture

    class TiedGaussianMixture(GaussianMixture):
        def _estimate_log_prob(self, X, xp=None):
            if self.covariance_type != "tied" or not isinstance(X, np.ndarray):
                return super()._estimate_log_prob(X, xp=xp)
            prec = self.precisions_cholesky_
            y = X @ prec
            log_prob = np.empty((X.shape[0], self.means_.shape[0]), dtype=X.dtype)
            for k, mu in enumerate(self.means_):
                log_prob[:, k] = np.sum(np.square(y - mu @ prec), axis=1)
            log_det = np.sum(np.log(np.diag(prec)))
            return -0.5 * (X.shape[1] * math.log(2 * math.pi) + log_prob) + log_det

    return TiedGaussianMixture


def ward_means(emb: np.ndarray, k: int, *, seed: int = 0, max_spots: int = 5000) -> np.ndarray:
    """Cluster means of a Ward agglomerative clustering into ``k`` groups (on a random
    subsample of ``max_spots`` rows for large inputs: Ward needs O(n^2) time)."""
    from sklearn.cluster import AgglomerativeClustering

    x = emb
    if len(emb) > max_spots:
        x = emb[np.random.default_rng(seed).choice(len(emb), max_spots, replace=False)]
    labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
    return np.stack([x[labels == c].mean(0) for c in range(k)])


def _kmeans_proba(emb: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb)
    d2 = ((emb[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    var = max(d2[np.arange(len(emb)), km.labels_].mean() / emb.shape[1], 1e-12)
    logit = -0.5 * d2 / var
    logit -= logit.max(1, keepdims=True)
    p = np.exp(logit)
    return p / p.sum(1, keepdims=True)


def _leiden_proba(emb: np.ndarray, k: int, seed: int, n_neighbors: int = 15) -> np.ndarray:
    import anndata as ad
    import scanpy as sc

    tmp = ad.AnnData(obs={"_": np.zeros(len(emb))}, obsm={"X_emb": emb.astype(np.float32)})
    sc.pp.neighbors(tmp, use_rep="X_emb", n_neighbors=n_neighbors, random_state=seed)
    lo, hi, labels = 0.01, 5.0, None
    for _ in range(30):
        res = (lo + hi) / 2
        sc.tl.leiden(
            tmp, resolution=res, random_state=seed, flavor="igraph", n_iterations=2, directed=False
        )
        labels = tmp.obs["leiden"].astype(int).to_numpy()
        found = labels.max() + 1
        if found == k:
            break
        lo, hi = (res, hi) if found < k else (lo, res)
    found = int(labels.max()) + 1
    if found != k:
        logger.warning("leiden: found %d clusters, closest to the %d requested", found, k)
    conn = sp.csr_matrix(tmp.obsp["connectivities"])
    conn.data[:] = 1.0
    onehot = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)))
    counts = np.asarray((conn @ onehot).todense()) + np.eye(found)[labels]
    return counts / counts.sum(1, keepdims=True)


def _order_by_size(labels: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber clusters 0..k-1 by decreasing size (ties by first occurrence)."""
    k = prob.shape[1]
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, len(labels))
    uniq, idx = np.unique(labels, return_index=True)
    first[uniq] = idx
    order = np.lexsort((first, -sizes))  # old ids, biggest first
    new_of_old = np.empty(k, dtype=np.int64)
    new_of_old[order] = np.arange(k)
    return new_of_old[labels], prob[:, order]
