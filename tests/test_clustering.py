"""Clustering of embeddings: accuracy on blobs, ordering, confidence, refinement, auto-k."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from napari_scdl.clustering import (
    choose_n_clusters,
    cluster_embedding,
    partition_log_likelihood,
    refine_labels,
)
from napari_scdl.errors import ScdlError


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    sizes = [200, 120, 80, 40]
    truth = np.repeat(np.arange(4), sizes)
    centres = rng.normal(scale=6.0, size=(4, 5))
    return centres[truth] + rng.normal(size=(truth.size, 5)), truth


@pytest.mark.parametrize("method", ["gmm", "kmeans"])
def test_recovers_blobs(blobs, method):
    emb, truth = blobs
    labels, conf = cluster_embedding(emb, 4, method=method, seed=0)
    assert adjusted_rand_score(truth, labels) > 0.95
    assert labels.dtype == np.int64 and conf.dtype == np.float32
    assert conf.min() >= 0 and conf.max() <= 1 and conf.mean() > 0.9
    # numbered from the largest cluster down
    assert list(np.bincount(labels)) == sorted(np.bincount(labels), reverse=True)


def test_same_seed_same_labels(blobs):
    emb, _ = blobs
    a = cluster_embedding(emb, 4, seed=3)
    b = cluster_embedding(emb, 4, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def _grid(n: int) -> sp.csr_matrix:
    """4-neighbour adjacency of an n x n grid."""
    idx = np.arange(n * n).reshape(n, n)
    right = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
    down = np.column_stack([idx[:-1].ravel(), idx[1:].ravel()])
    e = np.vstack([right, down])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n * n, n * n))
    return (a + a.T).tocsr()


def test_partition_log_likelihood_prefers_the_true_partition():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]], dtype=float)
    truth = np.repeat(np.arange(4), 200)
    x = centres[truth] + rng.normal(size=(800, 2))
    wrong = truth.copy()
    wrong[truth == 1] = 0  # merge two clusters ...
    wrong[(truth == 2) & (x[:, 0] > 0)] = 1  # ... and split another in two
    assert partition_log_likelihood(x, truth) > partition_log_likelihood(x, wrong)
    relabelled = np.array([3, 0, 2, 1])[truth]  # the names of the clusters do not matter
    assert partition_log_likelihood(x, relabelled) == pytest.approx(
        partition_log_likelihood(x, truth)
    )


def test_refine_fixes_isolated_spot():
    adj = _grid(6)
    labels = np.repeat([0, 1], 18)  # top half 0, bottom half 1
    noisy = labels.copy()
    noisy[7] = 1  # an isolated 1 inside the 0 half
    np.testing.assert_array_equal(refine_labels(noisy, adj), labels)


def test_refine_in_cluster_embedding(blobs):
    emb, _ = blobs
    n = 20
    adj = _grid(n)
    emb = emb[:400]
    labels, conf = cluster_embedding(emb, 4, adjacency=adj, refine=True)
    assert labels.shape == (400,) and conf.shape == (400,)


def test_choose_n_clusters(blobs):
    emb, _ = blobs
    best, scores = choose_n_clusters(emb, range(2, 7))
    assert best == 4
    assert set(scores) == {2, 3, 4, 5, 6}
    best_bic, _ = choose_n_clusters(emb, [3, 4, 5], criterion="bic")
    assert best_bic == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_clusters": 1000}, "n_clusters"),
        ({"n_clusters": 3, "method": "nope"}, "unknown clustering method"),
        ({"n_clusters": 3, "refine": True}, "adjacency"),
    ],
)
def test_errors(blobs, kwargs, match):
    emb, _ = blobs
    with pytest.raises(ScdlError, match=match):
        cluster_embedding(emb, **kwargs)


def test_rejects_nan():
    emb = np.ones((10, 2))
    emb[0, 0] = np.nan
    with pytest.raises(ScdlError, match="NaN"):
        cluster_embedding(emb, 2)
    with pytest.raises(ScdlError, match="k_range"):
        choose_n_clusters(np.ones((10, 2)), [1, 2])
