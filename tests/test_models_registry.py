"""The model registry: one protocol for every model, forms built from ``Param`` entries."""

from __future__ import annotations

import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)

from napari_scdl.errors import ScdlError
from napari_scdl.models import BaseModel, Param, get_model, list_models

EXPRESSION_MODELS = ["vae", "autoencoder", "stagate", "gnn_impute"]


def test_expression_models_are_registered():
    models = list_models()
    for name in EXPRESSION_MODELS:
        assert name in models and models[name].name == name
    assert get_model("stagate").spatial and not get_model("vae").spatial


@pytest.mark.parametrize("name", EXPRESSION_MODELS)
def test_every_model_declares_its_interface(name):
    cls = get_model(name)
    assert cls.description and cls.citation and cls.default_key
    names = [p.name for p in cls.params]
    assert len(names) == len(set(names))
    assert {"n_clusters", "cluster_method", "n_top_genes", "n_latent"} <= set(names)
    for p in cls.params:
        assert isinstance(p, Param) and p.help
        assert p.coerce(p.default) == p.default  # defaults pass their own checks
    assert any("obsm" in w for w in cls.writes) and any("layers" in w for w in cls.writes)
    model = cls()
    assert model.hparams == {p.name: p.default for p in cls.params}
    assert repr(model).startswith(cls.__name__)


def test_params_are_coerced_and_checked():
    model = get_model("vae")(epochs="3", likelihood="nb", lr="0.01")
    assert model.hparams["epochs"] == 3 and model.hparams["lr"] == 0.01
    assert model.hparams["batch_key"] is None
    with pytest.raises(ScdlError, match="unknown parameter"):
        get_model("vae")(epoch=3)
    with pytest.raises(ScdlError, match="not one of"):
        get_model("autoencoder")(reconstruction="poisson")
    with pytest.raises(ScdlError, match="below the minimum"):
        get_model("stagate")(n_clusters=-1)


def test_unknown_model_names_the_available_ones():
    with pytest.raises(ScdlError, match="available"):
        get_model("scvi-ultra")


def test_transform_needs_a_trained_model_and_support():
    with pytest.raises(ScdlError, match="not trained"):
        get_model("vae")().transform(None)

    class Plain(BaseModel):
        name = "plain"

    plain = Plain()
    plain.is_trained = True
    with pytest.raises(ScdlError, match="cannot be applied"):
        plain._infer()


def test_setup_lists_every_problem_at_once():
    from model_checks import slide

    from napari_scdl.errors import ModelSetupError

    adata = slide()
    del adata.obsm["spatial"]
    model = get_model("stagate")(n_clusters=500)
    with pytest.raises(ModelSetupError) as err:
        model.setup(adata)
    assert "n_clusters=500" in str(err.value) and "obsm['spatial']" in str(err.value)
    vae = get_model("vae")(batch_key="slide")
    with pytest.raises(ModelSetupError, match="batch_key 'slide'"):
        vae.setup(adata)


def test_cancel_leaves_the_model_untrained_and_adata_untouched():
    from model_checks import slide

    adata = slide()
    model = get_model("autoencoder")(epochs=50, n_clusters=0)
    it = model.fit_iter(adata, device="cpu")
    first = next(it)
    assert first.step == 1 and first.total == 50 and "loss" in first.metrics
    it.close()
    assert not model.is_trained and "X_autoencoder" not in adata.obsm


def test_vae_batch_key_corrects_and_refuses_unknown_batches(tmp_path):
    import numpy as np
    from model_checks import slide

    from napari_scdl.errors import ModelSetupError

    adata = slide()
    adata.obs["slide"] = np.where(np.arange(adata.n_obs) % 2 == 0, "A", "B")
    model = get_model("vae")(batch_key="slide", epochs=3, n_latent=4, n_clusters=2)
    model.fit(adata, device="cpu")
    model.write(adata, "vae")
    assert list(adata.uns["vae"]["batches"]) == ["A", "B"] and model.module.n_batches == 2
    other = slide(seed=1)
    other.obs["slide"] = "C"
    with pytest.raises(ModelSetupError, match="not trained on"):
        model.transform(other)
    other.obs["slide"] = "B"
    loaded = BaseModel.load(model.save(tmp_path / "m.pt"), device="cpu")
    assert loaded.batches == ["A", "B"]
    assert loaded.transform(other).get_latent().shape == (other.n_obs, 4)


def test_rerun_under_same_key_replaces_whole_result():
    import numpy as np

    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.models._results import write_result

    a = synthetic_visium(50, n_domains=2, n_genes=20, seed=0, image=False)
    a.obs["mine"] = "user column"
    write_result(
        a,
        "r",
        labels=np.zeros(a.n_obs),
        confidence=np.ones(a.n_obs),
        embedding=np.ones((a.n_obs, 2)),
        info={"model": "x"},
    )
    write_result(a, "r", embedding=np.zeros((a.n_obs, 3)), info={"model": "x"})
    assert "r" not in a.obs and "r_confidence" not in a.obs and a.obsm["X_r"].shape[1] == 3
    write_result(a, "mine", embedding=np.zeros((a.n_obs, 3)), info={"model": "x"})
    assert (a.obs["mine"] == "user column").all()  # not a model result before: left alone
