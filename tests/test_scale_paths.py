"""The large-slide paths (issue #14) on small data: the fast synthetic generator, training
from second moments, the subsampled PCA fit and mixture fit (each forced on by lowering
its threshold), all small and fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from napari_scdl import clustering, preprocessing
from napari_scdl.datasets import synthetic_sample
from napari_scdl.graph import build_graph, is_cell_level
from napari_scdl.models import domain_gcn
from napari_scdl.models.nn._gcn import DomainGCN, gram_statistics


@pytest.mark.parametrize("layout", ["visium_hd", "xenium"])
def test_synthetic_sample_layouts(layout):
    a = synthetic_sample(3000, layout=layout, n_genes=300, seed=1)
    assert a.shape == (3000, 300)
    a.X.check_format(full_check=True)
    assert a.X.has_sorted_indices and a.X.dtype == np.float32
    assert 40 < a.X.nnz / a.n_obs < 300  # sparse like a bin or a cell
    assert a.obs["truth"].nunique() == 7
    # the marker genes of a layer are enriched in it
    mk = [i for i, g in enumerate(a.var_names) if g.startswith("MK2_")]
    frac = np.asarray(a.X[:, mk].sum(1)).ravel() / np.asarray(a.X.sum(1)).ravel()
    inside = (a.obs["truth"] == "Layer2").to_numpy()
    assert frac[inside].mean() > 2 * frac[~inside].mean()
    adj = build_graph(a)
    deg = np.asarray(adj.sum(1)).ravel()
    if layout == "visium_hd":
        assert not is_cell_level(a) and np.median(deg) == 4  # square bins: 4 side neighbours
    else:
        assert is_cell_level(a) and 4 <= np.median(deg) <= 8  # Delaunay of cells
    b = synthetic_sample(3000, layout=layout, n_genes=300, seed=1)
    assert (a.X != b.X).nnz == 0  # deterministic


def test_gram_loss_equals_mse():
    torch.manual_seed(0)
    n, d = 2000, 12
    net = DomainGCN(d, n_latent=8)
    torch.nn.init.normal_(net.enc1.bias)
    torch.nn.init.normal_(net.dec.bias)
    x, deg = torch.randn(n, d), torch.rand(n) + 0.5
    a2x = 0.4 * x + 0.3 * torch.randn(n, d)
    mse = net.reconstruction_loss(x, net.decode_propagated(a2x, deg))
    gram = net.gram_loss(gram_statistics(a2x, deg, x, chunk=333))
    assert gram.item() == pytest.approx(mse.item(), rel=1e-5)
    g1 = torch.autograd.grad(mse, [net.enc1.lin.weight, net.dec.bias])
    g2 = torch.autograd.grad(gram, [net.enc1.lin.weight, net.dec.bias])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_subsampled_pca_matches_full():
    a = synthetic_sample(4000, n_genes=200, seed=2)
    L = preprocessing.log_normalize(a.X)
    _, full = preprocessing.fit_projection(L, 10, seed=0)
    proj, sub = preprocessing.fit_projection(L, 10, seed=0, max_spots=1500)
    assert sub.shape == full.shape and sub.dtype == np.float32
    # the subsample's leading components lie in the full fit's leading subspace
    q1, _ = np.linalg.qr(full - full.mean(0))
    q2, _ = np.linalg.qr(sub[:, :4] - sub[:, :4].mean(0))
    assert np.linalg.svd(q1.T @ q2, compute_uv=False).min() > 0.95
    # chunked projection == one-shot projection
    big = preprocessing.apply_projection(L, proj)
    old = preprocessing.PROJECTION_CHUNK
    try:
        preprocessing.PROJECTION_CHUNK = 10**9
        one = preprocessing.apply_projection(L, proj)
    finally:
        preprocessing.PROJECTION_CHUNK = old
    np.testing.assert_allclose(big, one, rtol=1e-4, atol=1e-4)


def test_large_paths_keep_domains(monkeypatch):
    """domain_gcn with every large-slide path forced on finds domains as good."""
    from napari_scdl.tl import domains

    a = synthetic_sample(3000, n_genes=200, seed=3)
    truth = a.obs["truth"].to_numpy()
    b = a.copy()
    domains(a, seed=0, epochs=150, n_networks=1, n_top_genes=150)
    monkeypatch.setattr(domain_gcn, "GRAM_TRAINING_SPOTS", 100)
    monkeypatch.setattr(preprocessing, "PCA_FIT_SPOTS", 1500)
    monkeypatch.setattr(preprocessing, "PROJECTION_CHUNK", 700)
    monkeypatch.setattr(clustering, "GMM_FIT_SPOTS", 1500)
    domains(b, seed=0, epochs=150, n_networks=1, n_top_genes=150)
    ari_a = adjusted_rand_score(truth, a.obs["domain"])
    ari_b = adjusted_rand_score(truth, b.obs["domain"])
    # one network on 3,000 spots: both land near the truth (a restart's spread is ~0.1)
    assert min(ari_a, ari_b) > 0.75, (ari_a, ari_b)
    assert adjusted_rand_score(a.obs["domain"], b.obs["domain"]) > 0.7


def test_wilcoxon_in_gene_chunks_is_exact(monkeypatch):
    import importlib

    mk = importlib.import_module("napari_scdl.tl.markers")

    a = synthetic_sample(1500, n_genes=120, seed=4)
    X = preprocessing.log_normalize(a.X)
    codes = a.obs["truth"].cat.codes.to_numpy().astype(np.int64)
    whole = mk.wilcoxon_sparse(X, codes, 7)
    monkeypatch.setattr(mk, "WILCOXON_CHUNK_NNZ", 5000)
    chunked = mk.wilcoxon_sparse(X, codes, 7)
    for w, c in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(c["score"], w["score"], rtol=1e-12, atol=1e-12)


def test_moran_blocks_match_squidpy(monkeypatch):
    import importlib

    svg = importlib.import_module("napari_scdl.tl.svg")
    from napari_scdl.tl import spatially_variable_genes

    a = synthetic_sample(2000, n_genes=150, seed=5)
    ref = spatially_variable_genes(a, n_top_genes=40).set_index("gene")
    monkeypatch.setattr(svg, "MORAN_BLOCK_SPOTS", 100)
    monkeypatch.setattr(svg, "MORAN_BLOCK_GENES", 7)
    ours = spatially_variable_genes(a, n_top_genes=40).set_index("gene").loc[ref.index]
    np.testing.assert_allclose(ours["I"], ref["I"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours["pval"], ref["pval"], rtol=1e-5, atol=1e-12)


def test_moran_dense_input_matches_squidpy(monkeypatch):
    """The large path on a dense matrix (gene blocks) and on the graph of one domain."""
    import importlib

    svg = importlib.import_module("napari_scdl.tl.svg")
    from napari_scdl.tl import spatially_variable_genes

    a = synthetic_sample(1500, n_genes=60, seed=6)
    a.X = a.X.toarray()
    kw = dict(n_top_genes=25, groupby="truth", group=str(a.obs["truth"].cat.categories[2]))
    ref = spatially_variable_genes(a, **kw).set_index("gene")
    monkeypatch.setattr(svg, "MORAN_BLOCK_SPOTS", 50)
    monkeypatch.setattr(svg, "MORAN_BLOCK_GENES", 7)
    ours = spatially_variable_genes(a, **kw).set_index("gene").loc[ref.index]
    np.testing.assert_allclose(ours["I"], ref["I"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours[["pct", "mean"]], ref[["pct", "mean"]], rtol=1e-6)
