"""Model ``drug_response`` (scDEAL-like): bulk expression + response -> spots, with a
planted sensitive region."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)

from napari_scdl.errors import ModelSetupError

FAST = {"epochs": 30, "n_hidden": 64, "n_latent": 16}


def _bulk_and_spots(n_bulk=80, seed=0):
    """Bulk samples = sums of 30 spots of another slide; sensitive = more Layer1 than the
    median sample (the planted program is Layer1's markers); spots: a fresh slide."""
    from napari_scdl.datasets import synthetic_visium

    src = synthetic_visium(400, n_domains=3, n_genes=80, seed=seed + 10, image=False)
    rng = np.random.default_rng(seed)
    in1 = (src.obs["truth"].astype(str) == "Layer1").to_numpy()
    rows, share = [], []
    for _ in range(n_bulk):
        w = rng.uniform(0.05, 0.95)
        pick = np.where(rng.random(30) < w, rng.choice(np.flatnonzero(in1), 30),
                        rng.choice(np.flatnonzero(~in1), 30))
        rows.append(np.asarray(src.X[pick].sum(0)).ravel())
        share.append(in1[pick].mean())
    names = [f"line{i}" for i in range(n_bulk)]
    bulk = pd.DataFrame(np.vstack(rows), index=names, columns=src.var_names)
    share = np.asarray(share)
    resp = pd.Series(np.where(share > np.median(share), "sensitive", "resistant"), index=names)
    spots = synthetic_visium(300, n_domains=3, n_genes=80, seed=seed + 1, image=False)
    return bulk, resp, spots


def test_planted_sensitive_region_is_found_and_genes_named(tmp_path):
    from sklearn.metrics import roc_auc_score

    from napari_scdl.models import BaseModel, get_model

    bulk, resp, spots = _bulk_and_spots()
    model = get_model("drug_response")(**FAST).set_bulk(bulk, resp)
    model.fit(spots, device="cpu", seed=0)
    model.write(spots, "drug_response")
    p = spots.obs["drug_response"].to_numpy()
    truth = (spots.obs["truth"].astype(str) == "Layer1").to_numpy()
    assert roc_auc_score(truth, p) > 0.9
    assert ((p >= 0) & (p <= 1)).all()
    assert set(spots.obs["drug_response_label"].astype(str)) <= {"sensitive", "resistant"}
    att = spots.uns["drug_response"]["attributions"]
    scores = pd.Series(att["scores"], index=att["genes"])
    up = scores.sort_values(ascending=False).index[:5]
    assert sum(g.startswith("MK1_") for g in up) >= 3, scores.head(10)  # Layer1 -> sensitive
    down = scores.sort_values().index[:5]
    assert not any(g.startswith("MK1_") for g in down)
    # files on disk, and save / apply to another sample
    bulk.to_csv(tmp_path / "bulk.csv")
    resp.rename("response").to_csv(tmp_path / "resp.tsv", sep="\t")
    from napari_scdl.cli import main

    spots.write_h5ad(tmp_path / "spots.h5ad")
    rc = main(["drug-response", str(tmp_path / "spots.h5ad"), "--bulk", str(tmp_path / "bulk.csv"),
               "--response", str(tmp_path / "resp.tsv"), "--out", str(tmp_path / "out.h5ad"),
               "--device", "cpu", *[f"--param={k}={v}" for k, v in FAST.items()]])
    assert rc == 0
    path = model.save(tmp_path / "drug.pt")
    loaded = BaseModel.load(path, device="cpu").transform(spots)
    np.testing.assert_allclose(loaded.proba, model.proba, atol=1e-5)


def test_missing_bulk_is_named():
    from napari_scdl.models import get_model

    _, _, spots = _bulk_and_spots(n_bulk=12)
    with pytest.raises(ModelSetupError, match="no bulk data given"):
        get_model("drug_response")().fit(spots, device="cpu")


def test_ic50_is_split_at_the_median():
    from napari_scdl.models.drug_response import response_labels

    lab = response_labels(pd.Series([1.0, 5.0, 0.5, 9.0], index=list("abcd")), "sensitive")
    assert list(lab) == ["sensitive", "resistant", "sensitive", "resistant"]
