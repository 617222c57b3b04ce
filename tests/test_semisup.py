"""semisup_gnn: the semi-supervised APPNP classifier (network + model glue)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_scdl.errors import ModelSetupError
from napari_scdl.models import get_model

FAST = {"epochs": 60, "n_ensemble": 1, "n_top_genes": 100, "n_pcs": 20}


def _partial(adata, frac=0.1, seed=0):
    rng = np.random.default_rng(seed)
    truth = adata.obs["truth"].astype(str).to_numpy()
    keep = np.zeros(adata.n_obs, bool)
    for c in np.unique(truth):
        idx = np.flatnonzero(truth == c)
        keep[rng.choice(idx, max(2, int(frac * len(idx))), replace=False)] = True
    adata.obs["partial"] = pd.Categorical(np.where(keep, truth, None))
    return keep


def test_network_on_a_tiny_graph():
    import scipy.sparse as sp
    import torch

    from napari_scdl.graph import gcn_normalize
    from napari_scdl.models.nn._classifier import APPNPClassifier
    from napari_scdl.models.nn._sparse import csr_tensor

    # a path of 6 nodes, two classes, one labelled node each end
    adj = sp.diags([np.ones(5), np.ones(5)], [-1, 1], shape=(6, 6))
    batch = {
        "x": torch.tensor([[0.0], [0.1], [0.2], [0.8], [0.9], [1.0]]),
        "adj": csr_tensor(gcn_normalize(adj)),
        "y": torch.tensor([0, -1, -1, -1, -1, 1]),
    }
    torch.manual_seed(0)
    net = APPNPClassifier(1, 2, n_hidden=8, dropout=0.0, k_hops=3)
    assert "k_hops=3" in repr(net)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        out = net.loss(batch, entropy_weight=0.1)
        out["loss"].backward()
        opt.step()
    assert {"loss", "cross_entropy", "entropy"} <= set(out)
    pred = net(batch["x"], batch["adj"]).argmax(1).tolist()
    assert pred == [0, 0, 0, 1, 1, 1]


def test_semisup_labels_every_spot(small_adata):
    from napari_scdl.tl import run_model

    keep = _partial(small_adata)
    obs_before = list(small_adata.obs.columns)
    model = get_model("semisup_gnn")(labels_key="partial", **FAST)
    model.fit(small_adata, device="cpu", seed=0)
    assert list(small_adata.obs.columns) == obs_before  # fit mutates nothing
    written = model.write(small_adata)
    assert "obs['predicted_confidence']" in written
    pred = small_adata.obs["predicted_label"].astype(str)
    truth = small_adata.obs["truth"].astype(str)
    assert (pred[~keep] == truth[~keep]).mean() > 0.8
    assert (pred[keep] == truth[keep]).all()  # labelled spots keep their label
    conf = small_adata.obs["predicted_confidence"].to_numpy()
    assert conf.min() >= 0 and conf.max() <= 1 and (conf[keep] == 1).all()
    assert small_adata.obsm["predicted_label_proba"].shape == (small_adata.n_obs, 4)
    assert small_adata.uns["predicted_label"]["n_labelled"] == keep.sum()
    # same seed -> same result; another key gets its own confidence column
    run_model(
        small_adata,
        "semisup_gnn",
        key_added="again",
        device="cpu",
        seed=0,
        labels_key="partial",
        **FAST,
    )
    assert (small_adata.obs["again"].astype(str) == pred).all()
    np.testing.assert_allclose(small_adata.obs["again_confidence"], conf, rtol=1e-5, atol=1e-6)


def test_semisup_with_histology_features(small_adata):
    _partial(small_adata)
    small_adata.obsm["X_histo"] = np.random.default_rng(0).normal(size=(small_adata.n_obs, 8))
    model = get_model("semisup_gnn")(labels_key="partial", histology_key="X_histo", **FAST)
    model.fit(small_adata, device="cpu")
    assert model.x.shape[1] == 20 + 8


def test_semisup_setup_lists_every_problem(small_adata):
    del small_adata.obsm["spatial"]
    with pytest.raises(ModelSetupError) as err:
        get_model("semisup_gnn")(labels_key="nope", histology_key="X_none").setup(small_adata)
    msg = str(err.value)
    assert "obs['nope']" in msg and "obsm['spatial']" in msg and "X_none" in msg
    small_adata.obs["one"] = pd.Categorical(["a"] * 3 + [None] * (small_adata.n_obs - 3))
    with pytest.raises(ModelSetupError, match="at least 2 categories"):
        get_model("semisup_gnn")(labels_key="one").setup(small_adata)
