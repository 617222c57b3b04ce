"""The Potts/HMRF spatial prior of the clustering (napari_scdl.spatial_prior)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from napari_scdl.errors import ScdlError
from napari_scdl.spatial_prior import potts_labels


def _grid(n_side: int) -> sp.csr_matrix:
    """4-neighbour graph of an n_side x n_side grid."""
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])]
    rows = np.concatenate([a.ravel() for a, _ in pairs])
    cols = np.concatenate([b.ravel() for _, b in pairs])
    adj = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(idx.size,) * 2)
    return sp.csr_matrix(adj + adj.T)


def _two_halves(noise: float, seed: int = 0):
    n_side = 30
    truth = (np.arange(n_side * n_side) % n_side >= n_side // 2).astype(int)  # left | right
    rng = np.random.default_rng(seed)
    emb = np.eye(2)[truth] * 2.0 + rng.normal(0, noise, (truth.size, 2))
    return emb, truth, _grid(n_side)


def test_prior_fixes_spots_the_mixture_gets_wrong():
    emb, truth, adj = _two_halves(noise=1.2)
    start = (emb[:, 1] > emb[:, 0]).astype(int)  # the expression alone: many errors
    plain, _ = potts_labels(emb, start, adj, beta=0.0)
    smooth, q = potts_labels(emb, start, adj, beta=2.0)
    err_plain = min((plain != truth).mean(), (plain == truth).mean())
    err_smooth = min((smooth != truth).mean(), (smooth == truth).mean())
    assert err_plain > 0.1 and err_smooth < err_plain / 3
    assert q.shape == (truth.size, 2) and np.allclose(q.sum(1), 1, atol=1e-5)


def test_clear_expression_is_not_overruled():
    emb, truth, adj = _two_halves(noise=0.05)
    flipped = truth.copy()
    flipped[0] = 1  # a spot whose expression clearly says 0, surrounded by 0s
    labels, _ = potts_labels(emb, flipped, adj, beta=2.0)
    assert np.array_equal(labels, truth)


def test_errors_name_the_shapes():
    emb, truth, adj = _two_halves(noise=0.1)
    with pytest.raises(ScdlError, match="labels for"):
        potts_labels(emb, truth[:-1], adj)
    with pytest.raises(ScdlError, match="adjacency is"):
        potts_labels(emb, truth, adj[:-1, :-1])
