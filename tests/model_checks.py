"""Checks every expression model (vae, autoencoder, stagate, gnn_impute) must pass.

Each ``tests/test_models_<name>.py`` calls these with its model's fast parameters on tiny
synthetic slides (two slides with the same genes, different seeds).
"""

from __future__ import annotations

import numpy as np
import pytest

N_SPOTS, N_GENES, N_DOMAINS = 150, 60, 3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks train fastest on one thread (two threads on a busy 2-core machine
    are 20x slower); restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def slide(seed: int = 0):
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(N_SPOTS, n_domains=N_DOMAINS, n_genes=N_GENES, seed=seed, image=False)


def fit(name: str, adata, seed: int = 0, **params):
    from napari_scdl.models import get_model

    return get_model(name)(**params).fit(adata, device="cpu", seed=seed)


def check_fit_and_write(name: str, params: dict, *, imputes: bool = True) -> None:
    adata = slide()
    before = adata.copy()
    model = fit(name, adata, **params)
    assert adata.obsm.keys() == before.obsm.keys() and adata.obs.equals(before.obs)  # untouched
    written = model.write(adata, "res")
    n_latent = model.hparams["n_latent"]
    assert adata.obsm["X_res"].shape == (N_SPOTS, n_latent)
    assert np.isfinite(adata.obsm["X_res"]).all()
    assert adata.obs["res"].nunique() <= params.get("n_clusters", 7)
    conf = adata.obs["res_confidence"].to_numpy()
    assert ((conf >= 0) & (conf <= 1)).all()
    uns = adata.uns["res"]
    assert uns["model"] == name and uns["params"]["n_clusters"] == params["n_clusters"]
    assert len(uns["genes"]) == N_GENES  # fewer genes than n_top_genes: all of them
    assert uns["transferred"] is False and uns["history"]
    if imputes:
        imp = adata.layers["res_imputed"]
        assert imp.shape == adata.shape and np.isfinite(imp).all() and (imp >= 0).all()
        assert "layers['res_imputed']" in written
        # denoised values follow the data: correlated with the log-normalised counts
        from napari_scdl.preprocessing import log_normalize

        obs = log_normalize(adata.X).toarray()
        assert np.corrcoef(obs.mean(0), imp.mean(0))[0, 1] > 0.5


def check_same_seed_same_result(name: str, params: dict) -> None:
    a, b, c = slide(), slide(), slide()
    ma, mb = fit(name, a, seed=3, **params), fit(name, b, seed=3, **params)
    np.testing.assert_allclose(ma.get_latent(), mb.get_latent(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ma.get_labels(), mb.get_labels())
    mc = fit(name, c, seed=4, **params)
    assert not np.allclose(ma.get_latent(), mc.get_latent())


def check_save_load_and_second_slide(name: str, params: dict, tmp_path) -> None:
    from napari_scdl.errors import ModelSetupError
    from napari_scdl.models import BaseModel, get_model

    adata = slide()
    model = fit(name, adata, **params)
    path = model.save(tmp_path / f"{name}.pt")
    loaded = BaseModel.load(path, device="cpu")
    assert type(loaded) is get_model(name) and loaded.hparams == model.hparams
    assert loaded.var_names == model.var_names
    # the loaded model reproduces the trained model's results on the training slide
    loaded.transform(adata)
    np.testing.assert_allclose(loaded.get_latent(), model.get_latent(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loaded.get_imputed(), model.get_imputed(), rtol=1e-4, atol=1e-4)
    assert (loaded.get_labels() == model.get_labels()).mean() > 0.9
    # ... and applies to a second slide with the same genes, without training
    other = slide(seed=1)
    loaded.transform(other)
    loaded.write(other, "applied")
    assert other.obsm["X_applied"].shape == (other.n_obs, params["n_latent"])
    assert set(other.obs["applied"].astype(int)) <= set(model.get_labels())
    assert other.uns["applied"]["transferred"] is True
    # a slide without the model's genes is refused with a clear message
    bad = other[:, 5:].copy()
    with pytest.raises(ModelSetupError, match="genes are missing"):
        loaded.transform(bad)
