"""tl.propagate, label_propagation, suggest_spots, explain_category."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_scdl import tl
from napari_scdl.errors import ScdlError

FAST = {"epochs": 60, "n_ensemble": 1, "n_top_genes": 100, "n_pcs": 20}


@pytest.fixture
def partial(small_adata):
    rng = np.random.default_rng(1)
    truth = small_adata.obs["truth"].astype(str)
    keep = rng.random(small_adata.n_obs) < 0.1
    return small_adata, truth[keep], keep


def test_propagate_from_a_barcode_series(partial):
    adata, labels, keep = partial
    steps = list(tl.propagate_iter(adata, labels, device="cpu", seed=0, **FAST))
    assert steps[-1].metrics["done"] == 1 and len(steps) > 10
    assert "partial" not in adata.obs  # the series is not written into the sample
    pred = adata.obs["predicted_label"].astype(str)
    truth = adata.obs["truth"].astype(str)
    assert (pred[~keep] == truth[~keep]).mean() > 0.8
    assert "predicted_confidence" in adata.obs
    assert sorted(adata.uns["predicted_label"]["labelled_index"]) == list(np.flatnonzero(keep))
    with pytest.raises(ScdlError, match="none of the"):
        tl.propagate(adata, pd.Series(["a"], index=["nope-1"]), device="cpu")


def test_label_propagation_baseline(partial):
    adata, labels, keep = partial
    pred = tl.label_propagation(adata, labels)
    truth = adata.obs["truth"].astype(str)
    assert (pred[~keep] == truth[~keep]).mean() > 0.6
    assert (pred[keep] == truth[keep]).all()
    assert adata.obs["label_propagation_confidence"].between(0, 1).all()


def test_suggest_spots_strategies(partial):
    adata, labels, keep = partial
    tl.propagate(adata, labels, device="cpu", **FAST)
    P = adata.obsm["predicted_label_proba"]
    top2 = np.sort(P, 1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    for strategy in ("uncertainty", "diverse", "random"):
        df = tl.suggest_spots(adata, n=8, strategy=strategy, seed=0)
        assert len(df) == 8 and df["index"].is_unique
        assert not keep[df["index"]].any()  # labelled spots are never suggested
        assert list(df.columns) == ["index", "predicted", "confidence", "uncertainty", "x", "y"]
        if strategy == "uncertainty":
            unl = np.flatnonzero(~keep)
            assert np.isclose(df["uncertainty"].iloc[0], 1 - margin[unl].min())
    again = tl.suggest_spots(adata, n=8, strategy="diverse", seed=0)
    assert (again.index == tl.suggest_spots(adata, n=8, strategy="diverse", seed=0).index).all()
    with pytest.raises(ScdlError, match="strategy"):
        tl.suggest_spots(adata, strategy="best")


def test_explain_category(small_adata):
    cat = small_adata.obs["truth"].cat.categories[0]
    df = tl.explain_category(small_adata, "truth", cat, n_genes=5, epochs=40)
    assert {"log2fc", "pval_adj", "importance", "found_by"} <= set(df.columns)
    assert 5 <= len(df) <= 10
    assert set(df["found_by"]) <= {"both", "DE", "classifier"}
    # the synthetic sample's marker genes of that domain are found
    assert any(str(g).startswith("MK") for g in df.index)
    with pytest.raises(ScdlError, match="no spot"):
        tl.explain_category(small_adata, "truth", "nonexistent")


@pytest.mark.realdata
@pytest.mark.slow
def test_propagate_dlpfc_5_percent(dlpfc_adata, dlpfc_path):
    gt = pd.read_csv(dlpfc_path / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
    gt = gt.reindex(dlpfc_adata.obs_names)
    rng = np.random.default_rng(0)
    keep = np.zeros(dlpfc_adata.n_obs, bool)
    for layer in gt.dropna().unique():
        idx = np.flatnonzero(gt.to_numpy() == layer)
        keep[rng.choice(idx, int(round(0.05 * len(idx))), replace=False)] = True
    tl.propagate(dlpfc_adata, gt[keep], device="cpu", seed=0)
    test = ~keep & gt.notna().to_numpy()
    acc = (dlpfc_adata.obs["predicted_label"].astype(str)[test] == gt[test]).mean()
    assert acc >= 0.85  # measured 0.872 (benchmarks/bench_propagate.py, seed 0)
