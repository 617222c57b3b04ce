"""``napari-scdl models`` and ``napari-scdl run``: list models, train headless, apply a saved model."""

from __future__ import annotations

import json

import anndata as ad
import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)

from napari_scdl.cli import main


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    from model_checks import slide

    from napari_scdl.io import write_h5ad

    root = tmp_path_factory.mktemp("run")
    return write_h5ad(slide(0), root / "a.h5ad"), write_h5ad(slide(1), root / "b.h5ad")


def test_models_lists_every_model_with_params(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("vae", "autoencoder", "stagate", "gnn_impute"):
        assert f"\n{name}: " in f"\n{out}"
    assert "n_clusters=7" in out and "likelihood=zinb" in out and "one of zinb, nb" in out
    assert "obsm['X_vae']" in out


def test_models_json_for_one_model(capsys):
    assert main(["models", "stagate", "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["name"] == "stagate" and info["spatial"] is True
    epochs = next(p for p in info["params"] if p["name"] == "epochs")
    assert epochs["type"] == "int" and epochs["help"] and epochs["min"] == 1
    assert main(["models", "nope"]) == 2
    assert "available" in capsys.readouterr().err


def test_run_train_save_then_apply_to_second_slide(slides, tmp_path, capsys):
    a, b = slides
    out, model = tmp_path / "a_out.h5ad", tmp_path / "ae.pt"
    argv = [
        "run",
        "autoencoder",
        str(a),
        "--out",
        str(out),
        "--param",
        "epochs=3",
        "--param",
        "n_clusters=2",
        "--param",
        "n_latent=4",
        "--seed",
        "1",
        "--device",
        "cpu",
        "--key-added",
        "ae",
        "--save-model",
        str(model),
    ]
    assert main(argv) == 0
    assert "written to" in capsys.readouterr().out
    res = ad.read_h5ad(out)
    assert res.obsm["X_ae"].shape == (res.n_obs, 4) and res.obs["ae"].nunique() <= 2
    assert res.layers["ae_imputed"].shape == res.shape
    assert res.uns["ae"]["params"]["epochs"] == 3 and res.uns["ae"]["seed"] == 1
    assert model.exists()

    out_b = tmp_path / "b_out.h5ad"
    argv = [
        "run",
        "autoencoder",
        str(b),
        "--out",
        str(out_b),
        "--load-model",
        str(model),
        "--device",
        "cpu",
        "--key-added",
        "ae_from_a",
    ]
    assert main(argv) == 0
    res_b = ad.read_h5ad(out_b)
    assert res_b.obsm["X_ae_from_a"].shape == (res_b.n_obs, 4)
    assert bool(res_b.uns["ae_from_a"]["transferred"])


def test_run_errors_exit_2(slides, tmp_path, capsys):
    a, _ = slides
    out = str(tmp_path / "x.h5ad")
    assert main(["run", "vae", str(a), "--out", out, "--param", "epochs"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["run", "vae", str(a), "--out", out, "--param", "epochs=many"]) == 2
    assert "expected int" in capsys.readouterr().err
    assert (
        main(["run", "vae", str(a), "--out", out, "--load-model", "x.pt", "--param", "epochs=2"])
        == 2
    )
    assert (
        main(["run", "vae", str(a), "--out", out, "--load-model", str(tmp_path / "missing.pt")])
        == 2
    )
    assert "not found" in capsys.readouterr().err
