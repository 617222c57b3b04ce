"""Model ``transfer`` and tl.transfer: labels and proportions from a reference, the
shuffled-label null, baselines, save/apply, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)
from tests_paths import SHARED

from napari_scdl import tl
from napari_scdl.errors import ModelSetupError

FAST = {"epochs": 30, "n_hidden": 64, "n_latent": 16, "n_pseudo": 600}


def _slide(n, seed, n_genes=80):
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(n, n_domains=3, n_genes=n_genes, seed=seed, image=False)


@pytest.fixture(scope="module")
def pair():
    return _slide(300, 0), _slide(250, 1)


def _acc(q, key="transferred_label"):
    return float((q.obs[key].astype(str) == q.obs["truth"].astype(str)).mean())


def test_labels_mode_transfers_between_slides(pair):
    ref, query = pair
    q = query.copy()
    before = ref.copy()
    model = tl.transfer(q, ref, labels_key="truth", device="cpu", **FAST)
    assert ref.obs.equals(before.obs)  # the reference is not touched
    assert _acc(q) > 0.78
    conf = q.obs["transferred_label_confidence"].to_numpy()
    assert ((conf > 0) & (conf <= 1)).all()
    table = q.obsm["transferred_label_proba"]
    assert isinstance(table, pd.DataFrame) and list(table.columns) == model.categories
    np.testing.assert_allclose(table.sum(1), 1, atol=1e-5)
    uns = q.uns["transferred_label"]
    assert uns["model"] == "transfer" and uns["mode"] == "labels" and uns["temperature"] > 0
    assert uns["reference"]["labels_key"] == "truth" and uns["history"]
    assert q.obsm["X_transferred_label"].shape == (q.n_obs, 16)
    # the null: a label's true region is significant, far more often than elsewhere
    fdr = q.obsm["transferred_label_fdr"]
    rare = tl.rare_spots(q, "Layer1", fdr=0.05)
    truth = q.obs["truth"].astype(str) == "Layer1"
    assert rare[truth].mean() > 0.5 and rare[~truth].mean() < 0.1
    assert ((fdr >= 0) & (fdr <= 1)).all().all()


def test_proportions_mode_rows_sum_to_one_and_follow_the_mixtures(pair):
    from napari_scdl.models.transfer import pseudo_spot_design

    ref, query = pair
    # spots made by mixing known numbers of query cells: the truth is known
    rng = np.random.default_rng(0)
    M = pseudo_spot_design(query.n_obs, 150, 5, rng)
    import anndata as ad

    truth_codes = pd.Categorical(query.obs["truth"].astype(str))
    onehot = np.eye(len(truth_codes.categories))[truth_codes.codes]
    truth = np.asarray(M @ onehot)
    truth /= truth.sum(1, keepdims=True)
    mix = ad.AnnData(X=(M @ query.X).astype(np.float32), var=query.var[[]].copy())
    tl.transfer(mix, ref, labels_key="truth", mode="proportions", device="cpu", n_null=0,
                **FAST)
    props = mix.obsm["transferred_label_proportions"]
    np.testing.assert_allclose(props.sum(1), 1, atol=1e-5)
    assert list(props.columns) == list(truth_codes.categories)
    r = np.corrcoef(props.to_numpy().ravel(), truth.ravel())[0, 1]
    assert r > 0.7
    assert "transferred_label_fdr" not in mix.obsm  # n_null=0: no p-values
    assert any("smoothed" in w for w in mix.uns["transferred_label"]["warnings"])
    from napari_scdl.tl.transfer import nnls_baseline

    W = nnls_baseline(mix, ref, labels_key="truth")
    np.testing.assert_allclose(W.sum(1), 1, atol=1e-6)


def test_same_seed_same_result(pair):
    ref, query = pair
    a, b, c = query.copy(), query.copy(), query.copy()
    params = FAST | {"n_null": 0}
    tl.transfer(a, ref, labels_key="truth", device="cpu", seed=2, **params)
    tl.transfer(b, ref, labels_key="truth", device="cpu", seed=2, **params)
    tl.transfer(c, ref, labels_key="truth", device="cpu", seed=3, **params)
    np.testing.assert_allclose(a.obsm["transferred_label_proba"], b.obsm["transferred_label_proba"])
    assert not np.allclose(a.obsm["transferred_label_proba"], c.obsm["transferred_label_proba"])


def test_missing_inputs_are_named(pair):
    ref, query = pair
    from napari_scdl.models import get_model

    with pytest.raises(ModelSetupError, match="no reference given"):
        get_model("transfer")().fit(query.copy(), device="cpu")
    with pytest.raises(ModelSetupError, match="no obs\\['cell_type'\\]"):
        tl.transfer(query.copy(), ref, labels_key="cell_type", device="cpu")
    with pytest.raises(ModelSetupError, match="cannot be read"):
        tl.transfer(query.copy(), "/nonexistent/ref.h5ad", labels_key="truth", device="cpu")
    other = ref.copy()
    other.var_names = [f"X{i}" for i in range(other.n_vars)]
    with pytest.raises(ModelSetupError, match="share only 0 genes"):
        tl.transfer(query.copy(), other, labels_key="truth", device="cpu")


def test_case_insensitive_gene_match():
    from napari_scdl.models.transfer import match_genes

    ri, qi, how = match_genes(["Actb", "Gapdh", "Cd3e", "X"], ["ACTB", "GAPDH", "CD3E", "Y"])
    assert how == "case-insensitive" and list(ri) == [0, 1, 2] and list(qi) == [0, 1, 2]
    ri, qi, how = match_genes(["A", "B"], ["B", "A"])
    assert how == "exact" and list(qi) == [1, 0]


def test_save_load_applies_to_a_further_sample(pair, tmp_path):
    from napari_scdl.models import BaseModel

    ref, query = pair
    q = query.copy()
    model = tl.transfer(q, ref, labels_key="truth", device="cpu", n_null=0, **FAST)
    path = model.save(tmp_path / "transfer.pt")
    loaded = BaseModel.load(path, device="cpu")
    loaded.transform(q)
    np.testing.assert_allclose(loaded.proba, model.proba, atol=1e-5)
    third = _slide(200, 5)
    loaded.transform(third)
    loaded.write(third, "applied")
    assert _acc(third, "applied") > 0.8
    assert third.uns["applied"]["transferred"] is True
    with pytest.raises(ModelSetupError, match="genes are missing"):
        loaded.transform(third[:, 40:].copy())


def test_cli_transfer(pair, tmp_path):
    import anndata as ad

    from napari_scdl.cli import main

    ref, query = pair
    ref.write_h5ad(tmp_path / "ref.h5ad")
    query.write_h5ad(tmp_path / "q.h5ad")
    params = [f"--param={k}={v}" for k, v in (FAST | {"n_null": 0}).items()]
    rc = main(["transfer", str(tmp_path / "q.h5ad"), "--reference", str(tmp_path / "ref.h5ad"),
               "--labels-key", "truth", "--out", str(tmp_path / "out.h5ad"), "--mode",
               "proportions", "--device", "cpu", "--save-model", str(tmp_path / "m.pt"), *params])
    assert rc == 0
    out = ad.read_h5ad(tmp_path / "out.h5ad")
    assert "transferred_label_proportions" in out.obsm and "transferred_label" in out.obs
    rc = main(["transfer", str(tmp_path / "q.h5ad"), "--load-model", str(tmp_path / "m.pt"),
               "--out", str(tmp_path / "out2.h5ad"), "--device", "cpu"])
    assert rc == 0
    assert main(["transfer", str(tmp_path / "q.h5ad"), "--out", str(tmp_path / "x.h5ad")]) == 2


@pytest.mark.realdata
def test_her2_sections_transfer_beyond_chance():
    """A pathologist-labelled HER2+ section as reference for the other one (held out)."""
    from napari_scdl.io import read

    d = SHARED / "her2st"
    if not d.exists():
        pytest.skip("HER2+ data not found")

    def section(name):
        a = read(d / f"{name}.h5ad")
        gt = pd.read_csv(d / f"{name}_ground_truth.tsv", sep="\t").set_index("barcode")["layer"]
        a.obs["label"] = gt.reindex(a.obs_names).to_numpy()
        return a

    ref, query = section("A1"), section("D1")
    tl.transfer(query, ref, labels_key="label", device="cpu", seed=0, n_null=0)
    lab = query.obs["label"].notna().to_numpy()
    shared = query.obs["label"].isin(set(ref.obs["label"].dropna())).to_numpy() & lab
    acc = (query.obs["transferred_label"].astype(str) == query.obs["label"].astype(str))[shared]
    assert acc.mean() > 0.5
