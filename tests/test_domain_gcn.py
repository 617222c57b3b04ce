"""``domain_gcn``: recovers synthetic domains, is reproducible, stores provenance, saves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from napari_scdl.errors import ModelSetupError, ScdlError
from napari_scdl.models import BaseModel, get_model
from napari_scdl.models.nn._gcn import DomainGCN as Net

FAST = {"epochs": 100, "lr": 1e-2, "n_top_genes": 100, "n_pcs": 15, "n_latent": 8}


@pytest.fixture(scope="module")
def _slide():
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(400, n_domains=4, n_genes=100, seed=1)


@pytest.fixture(scope="module")
def fitted(_slide):
    from napari_scdl.tl import domains

    adata = _slide.copy()
    model = domains(adata, n_domains=4, seed=0, device="cpu", **FAST)
    return adata, model


# -- the network: tensors in, tensors out -------------------------------------------------------
def test_network_on_tiny_graph():
    torch.manual_seed(0)
    x = torch.randn(5, 4)
    idx = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    adj = torch.sparse_coo_tensor(idx, torch.full((8,), 0.5), (5, 5)).to_sparse_csr()
    net = Net(4, n_hidden=6, n_latent=3)
    z, x_hat = net(x, adj)
    assert z.shape == (5, 3) and x_hat.shape == (5, 4)
    out = net.loss({"x": x, "adj": adj, "readout": adj, "perm": torch.randperm(5)})
    assert {"loss", "reconstruction", "contrastive"} <= set(out)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert net.enc1.lin.weight.grad is not None
    before = net.dec.lin.weight.detach().clone()
    net.reset_parameters()
    assert not torch.equal(before, net.dec.lin.weight)
    assert "n_latent=3" in repr(net)
    # default: one linear graph convolution (GraphST's encoder), no hidden layer
    linear = Net(4, n_latent=3)
    assert linear.enc2 is None and linear(x, adj)[0].shape == (5, 3)


# -- the model --------------------------------------------------------------------------------
def test_recovers_domains(fitted):
    adata, _ = fitted
    assert adjusted_rand_score(adata.obs["truth"], adata.obs["domain"]) > 0.8
    assert adata.obs["domain"].dtype == "category"
    assert adata.obs["domain"].nunique() == 4
    conf = adata.obs["domain_confidence"].to_numpy()
    assert conf.min() >= 0 and conf.max() <= 1
    assert adata.obsm["X_domain"].shape[0] == adata.n_obs


def test_provenance(fitted):
    adata, _ = fitted
    info = adata.uns["domain"]
    assert info["model"] == "domain_gcn"
    assert info["params"]["n_domains"] == 4 and info["params"]["epochs"] == 100
    assert info["seed"] == 0 and info["device"] == "cpu"
    assert "torch" in info["versions"] and "napari-scdl" in info["versions"]
    assert len(info["history"]["loss"]) == 100
    assert info["histology_used"]  # the synthetic sample has an H&E-like image
    assert info["wall_time_s"] > 0


def test_networks_restarts(fitted):
    """Several networks are trained from their own starts; the partition with the highest
    likelihood in the common (graph-smoothed input) space is kept and recorded."""
    from napari_scdl.models.domain_gcn import network_seed

    adata, model = fitted
    nets = adata.uns["domain"]["networks"]
    assert len(nets["seed"]) == model.hparams["n_networks"] == 3
    assert nets["seed"][0] == 0 and len(set(nets["seed"])) == 3
    assert nets["kept"].sum() == 1
    assert nets["kept"][np.argmax(nets["log_likelihood"])]
    assert "likelihood" in adata.uns["domain"]["network_choice"]
    assert network_seed(0, 1) == network_seed(0, 1) != network_seed(1, 1)
    assert len(adata.uns["domain"]["history"]["loss"]) == 100  # the kept network's


def test_progress_counts_every_network(_slide):
    steps = list(
        get_model("domain_gcn")(n_domains=4, n_networks=2, **{**FAST, "epochs": 5}).fit_iter(
            _slide, device="cpu"
        )
    )
    assert [p.step for p in steps if "epoch" in p.message] == list(range(1, 11))
    prep = [p for p in steps if p.step == 0]  # the preparation's steps come first
    assert [p.message.split(": ")[1] for p in prep][:2] == ["selecting genes", "building the spot graph"]
    assert steps[: len(prep)] == prep
    assert all(p.total == 10 for p in steps[len(prep):])
    assert any("network 2/2" in p.message for p in steps)


def test_same_seed_same_domains(_slide, fitted):
    from napari_scdl.tl import domains

    adata, _ = fitted
    again = _slide.copy()
    domains(again, n_domains=4, seed=0, device="cpu", **FAST)
    np.testing.assert_array_equal(adata.obs["domain"].to_numpy(), again.obs["domain"].to_numpy())
    np.testing.assert_allclose(adata.obsm["X_domain"], again.obsm["X_domain"], atol=1e-5)


def test_does_not_touch_input_except_results(_slide, fitted):
    adata, _ = fitted
    assert set(adata.obs.columns) - set(_slide.obs.columns) == {"domain", "domain_confidence"}
    assert (adata.X != _slide.X).nnz == 0


def test_save_load_round_trip(fitted, tmp_path):
    _, model = fitted
    path = model.save(tmp_path / "domains.pt")
    loaded = BaseModel.load(path, device="cpu")
    assert loaded.name == "domain_gcn" and loaded.hparams == model.hparams
    assert loaded.var_names == model.var_names
    for k, v in model.module.state_dict().items():
        torch.testing.assert_close(loaded.module.state_dict()[k], v.cpu())


def test_auto_number_of_domains(_slide):
    from napari_scdl.tl import domains

    adata = _slide.copy()
    domains(
        adata, n_domains="auto", seed=0, device="cpu", use_histology=False, k_min=2, k_max=6, **FAST
    )
    info = adata.uns["domain"]
    scores = dict(info["auto_k_scores"])
    assert set(scores) == {"2", "3", "4", "5", "6"}
    best = max(scores, key=scores.get)
    assert adata.obs["domain"].nunique() == int(best) == info["n_domains"]
    assert "silhouette" in info["auto_k_metric"]
    assert not info["histology_used"]


def test_setup_errors_listed_together(_slide):
    adata = _slide[:8].copy()
    del adata.obsm["spatial"]
    with pytest.raises(ModelSetupError) as err:
        get_model("domain_gcn")(n_domains=9).fit(adata, device="cpu")
    msg = str(err.value)
    assert "obsm['spatial']" in msg and "at least 10" in msg and "fewer than" in msg


def test_bad_params():
    with pytest.raises(ScdlError, match="n_domains"):
        get_model("domain_gcn")(n_domains=-1)
    with pytest.raises(ScdlError, match="unknown parameter"):
        get_model("domain_gcn")(n_clusters=3)


def test_histology_features(_slide):
    from napari_scdl.histology import FEATURE_NAMES, spot_image_features

    feats = spot_image_features(_slide)
    assert feats.shape == (_slide.n_obs, len(FEATURE_NAMES))
    assert np.isfinite(feats).all() and feats[:, :3].min() >= 0 and feats[:, :3].max() <= 1
    # the synthetic image is coloured by domain: features differ between domains
    means = [
        feats[(_slide.obs["truth"] == d).to_numpy(), :3].mean(0)
        for d in _slide.obs["truth"].cat.categories
    ]
    assert np.ptp(np.array(means), axis=0).max() > 0.02
    bare = _slide.copy()
    bare.uns["spatial"] = {}
    assert spot_image_features(bare) is None
    with pytest.raises(ScdlError, match="no tissue image"):
        spot_image_features(bare, required=True)


def test_applies_to_another_slide(fitted, tmp_path):
    """A saved domain model labels a second slide (same genes) without training, into the
    domains it learned; on the training slide it reproduces its own domains."""
    from napari_scdl.datasets import synthetic_visium

    adata, model = fitted
    loaded = BaseModel.load(model.save(tmp_path / "domains.pt"), device="cpu")
    loaded.transform(adata.copy())
    assert (loaded.get_labels() == model.get_labels()).mean() > 0.95
    np.testing.assert_allclose(loaded.get_latent(), model.get_latent(), rtol=1e-3, atol=1e-3)

    other = synthetic_visium(400, n_domains=4, n_genes=100, seed=7)  # another "tissue"
    loaded.transform(other)
    loaded.write(other, "applied")
    # 400 spots, 100 epochs: 0.77 here against 0.84 on the training slide itself
    assert adjusted_rand_score(other.obs["truth"], other.obs["applied"]) > 0.7
    assert set(other.obs["applied"].astype(int)) <= set(model.get_labels())
    conf = other.obs["applied_confidence"].to_numpy()
    assert conf.min() >= 0 and conf.max() <= 1
    assert other.uns["applied"]["transferred"] is True
    assert other.uns["applied"]["params"] == model.hparams


def test_transfer_needs_the_genes(fitted):
    adata, model = fitted
    bad = adata[:, 10:].copy()
    with pytest.raises(ModelSetupError, match="genes are missing"):
        model.transform(bad)


def test_propagated_reconstruction_is_the_forward_reconstruction():
    """The training shortcut of the linear encoder computes the same function."""
    import numpy as np
    import scipy.sparse as sp
    import torch

    from napari_scdl.graph import gcn_normalize
    from napari_scdl.models.nn._gcn import DomainGCN
    from napari_scdl.models.nn._sparse import csr_tensor

    rng = np.random.default_rng(0)
    a = sp.random(30, 30, density=0.2, random_state=0, format="csr")
    a = ((a + a.T) > 0).astype(np.float32)
    a.setdiag(0)
    ahat = gcn_normalize(sp.csr_matrix(a))
    x = rng.normal(size=(30, 8)).astype(np.float32)
    torch.manual_seed(0)
    net = DomainGCN(8, n_latent=5)
    torch.nn.init.normal_(net.enc1.bias)
    torch.nn.init.normal_(net.dec.bias)
    _, x_hat = net(torch.from_numpy(x), csr_tensor(ahat, "cpu"))
    a2x = torch.from_numpy((ahat @ (ahat @ x)).astype(np.float32))
    deg = torch.from_numpy(np.asarray(ahat.sum(1), dtype=np.float32).ravel())
    fast = net.decode_propagated(a2x, deg)
    np.testing.assert_allclose(fast.detach().numpy(), x_hat.detach().numpy(), atol=1e-5)


def test_each_network_gets_its_own_mixture_starts(monkeypatch):
    """``mixture_starts`` EM starts for every network (session 12: 10 each, no longer 10
    shared among the networks), recorded in the params."""
    from napari_scdl import clustering, datasets
    from napari_scdl.tl import domains

    seen = []
    real = clustering._gmm_proba

    def spy(emb, k, seed, **kw):
        seen.append(kw["n_init"])
        return real(emb, k, seed, **kw)

    monkeypatch.setattr(clustering, "_gmm_proba", spy)
    adata = datasets.synthetic_visium(300, n_domains=3, seed=0, image=False)
    domains(adata, n_domains=3, epochs=3, n_networks=2, device="cpu")
    assert seen == [10, 10]
    assert adata.uns["domain"]["params"]["mixture_starts"] == 10
    seen.clear()
    domains(adata, n_domains=3, epochs=3, n_networks=2, mixture_starts=4, device="cpu")
    assert seen == [4, 4]
