"""A spatial prior in the clustering: a hidden Markov random field over the spot graph.

The domains' mixture (a Gaussian mixture with one shared covariance, mclust ``EEE``) is
fitted again with a Potts prior on each spot's cluster: ``beta`` times how much of the
spot's graph neighbourhood belongs to that cluster (mean-field EM, as in HMRF-EM and
BayesSpace/BASS). Neighbours pull a spot into their domain only as far as its own
expression leaves the choice open, unlike a majority vote after the fact, which relabels
every outvoted spot whatever its expression says.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .clustering import neighbour_matrix
from .errors import ScdlError

__all__ = ["POTTS_BETA", "potts_labels"]

#: the Potts interaction per neighbour in the same domain (log-odds). BayesSpace uses 3
#: for Visium and 2 for ST with its own spatial-smoothing scale; 2 was the choice here
#: across DLPFC 151673, the HER2+ sections and synthetic slides (benchmarks/bench_heldout.py)
POTTS_BETA = 2.0


def potts_labels(
    emb: np.ndarray,
    labels: np.ndarray,
    adjacency: sp.spmatrix,
    *,
    beta: float = POTTS_BETA,
    n_iter: int = 30,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of ``emb`` under a tied-covariance Gaussian mixture with a Potts prior
    over ``adjacency``, started from ``labels`` (mean-field EM).

    Parameters
    ----------
    emb
        Embedding, one row per spot (n_spots x d).
    labels
        Starting clusters (integers 0..k-1), e.g. the mixture's without the prior.
    adjacency
        Sparse spatial graph (weights ignored, self-loops dropped).
    beta
        Potts interaction: each neighbour's membership in a cluster adds ``beta`` to the
        spot's log-odds for it. 0 gives the plain mixture.
    n_iter, tol
        Mean-field EM iterations at the most; stop when no membership moves by ``tol``.

    Returns
    -------
    labels
        int64 clusters (a cluster that empties keeps its number, unused).
    membership
        float32 (n_spots x k) mean-field membership probabilities.
    """
    y = np.asarray(emb, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n, d = y.shape
    if labels.shape != (n,):
        raise ScdlError(f"{labels.size} labels for {n} spots")
    adj = neighbour_matrix(adjacency, n, dtype=np.float64)
    k = int(labels.max()) + 1
    q = np.zeros((n, k))
    q[np.arange(n), labels] = 1.0
    gram = y.T @ y
    for _ in range(n_iter):
        nk = q.sum(0)
        alive = nk > 1e-6
        means = (q.T @ y) / np.maximum(nk, 1e-12)[:, None]
        cov = (gram - (means * nk[:, None]).T @ means) / n
        cov += 1e-6 * max(np.trace(cov) / d, 1e-12) * np.eye(d)
        chol = np.linalg.cholesky(cov)
        yw = np.linalg.solve(chol, y.T).T  # whitened: the Mahalanobis distance is Euclidean
        mw = np.linalg.solve(chol, means.T).T
        score = yw @ mw.T - 0.5 * (mw**2).sum(1)  # the spot's own |yw|^2 is the same for all
        score += np.log(np.maximum(nk / n, 1e-300))
        score[:, ~alive] = -np.inf
        score += beta * (adj @ q)
        score -= score.max(1, keepdims=True)
        new = np.exp(score)
        new /= new.sum(1, keepdims=True)
        moved = float(np.abs(new - q).max())
        q = new
        if moved < tol:
            break
    return q.argmax(1).astype(np.int64), q.astype(np.float32)
