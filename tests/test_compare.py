"""Metrics (ARI/NMI/matched accuracy) and the comparison functions of ``tl``."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from napari_scdl import metrics
from napari_scdl.errors import MissingKeyError, ScdlError
from napari_scdl.tl import cluster, compare, disagreement


def test_metrics_ignore_missing_and_match_labels():
    truth = ["a", "a", "b", "b", "c", None, "c"]
    perm = ["2", "2", "0", "0", "1", "1", "1"]  # the same partition, renamed
    assert metrics.ari(truth, perm) == pytest.approx(1.0)
    assert metrics.nmi(truth, perm) == pytest.approx(1.0)
    assert metrics.accuracy(truth, perm) == pytest.approx(1.0)
    assert metrics.match_labels(truth, perm) == {"2": "a", "0": "b", "1": "c"}
    one_off = ["2", "2", "0", "1", "1", "1", "1"]
    assert metrics.accuracy(truth, one_off) == pytest.approx(5 / 6)
    assert metrics.ari(truth, one_off) < 1
    assert metrics.valid_mask(pd.Series(["x", np.nan]), ["1", "2"]).tolist() == [True, False]
    with pytest.raises(ScdlError, match="different lengths"):
        metrics.ari([1, 2], [1])
    with pytest.raises(ScdlError, match="no spot"):
        metrics.ari([None, None], [1, 2])


def _toy():
    rng = np.random.default_rng(0)
    n = 90
    truth = np.repeat(["L1", "L2", "L3"], n // 3)
    emb = np.eye(3)[np.repeat([0, 1, 2], n // 3)] * 5 + rng.normal(0, 0.3, (n, 3))
    a = ad.AnnData(
        obs=pd.DataFrame({"truth": pd.Categorical(truth)}, index=[f"s{i}" for i in range(n)])
    )
    a.obsm["X_toy"] = emb.astype(np.float32)
    a.obsm["spatial"] = np.c_[np.arange(n) % 10, np.arange(n) // 10].astype(float) * 100
    return a


def test_cluster_any_embedding_like_domains():
    a = _toy()
    keys = cluster(a, use_rep="toy", n_clusters=3, seed=0)
    assert keys == ["obs['toy_clusters']", "obs['toy_clusters_confidence']", "uns['toy_clusters']"]
    assert metrics.ari(a.obs["truth"], a.obs["toy_clusters"]) == pytest.approx(1.0)
    assert a.uns["toy_clusters"]["params"]["use_rep"] == "X_toy"
    cluster(a, use_rep="X_toy", n_clusters=3, key_added="km", method="kmeans")
    assert a.obs["km"].nunique() == 3 and a.obs["km_confidence"].between(0, 1).all()
    with pytest.raises(MissingKeyError, match="run a model"):
        cluster(a, use_rep="nothing", n_clusters=3)


def test_cluster_confidence_is_the_domains_rule():
    from napari_scdl.clustering import CONFIDENCE_METHOD, spot_confidence
    from napari_scdl.graph import build_graph

    a = _toy()
    cluster(a, use_rep="toy", n_clusters=3, seed=0)
    labels = a.obs["toy_clusters"].astype(int).to_numpy()
    expected = spot_confidence(labels, adjacency=build_graph(a))
    np.testing.assert_allclose(a.obs["toy_clusters_confidence"].to_numpy(), expected)
    assert a.uns["toy_clusters"]["confidence_method"] == CONFIDENCE_METHOD
    del a.obsm["spatial"]  # no coordinates: neighbours in the embedding
    cluster(a, use_rep="toy", n_clusters=3, seed=0, key_added="flat")
    assert a.obs["flat_confidence"].between(0, 1).all()


def test_compare_long_and_square():
    a = _toy()
    a.obs["same"] = a.obs["truth"].map({"L1": "x", "L2": "y", "L3": "z"})
    a.obs["noisy"] = a.obs["truth"].astype(str).to_numpy()
    a.obs.iloc[:9, a.obs.columns.get_loc("noisy")] = "L2"
    long = compare(a, ["truth", "same", "noisy"])
    assert list(long.columns) == ["key_a", "key_b", "ari", "nmi", "accuracy", "n_spots"]
    assert len(long) == 3
    row = long[(long.key_a == "truth") & (long.key_b == "same")].iloc[0]
    assert row.ari == pytest.approx(1) and row.accuracy == pytest.approx(1) and row.n_spots == 90
    sq = compare(a, ["truth", "same", "noisy"], form="ari")
    assert sq.shape == (3, 3) and np.allclose(sq.to_numpy(), sq.to_numpy().T)
    assert sq.loc["truth", "noisy"] < 1 and sq.loc["noisy", "noisy"] == 1
    with pytest.raises(ScdlError, match="at least two"):
        compare(a, ["truth"])
    with pytest.raises(MissingKeyError, match="no column"):
        compare(a, ["truth", "vae"])


def test_disagreement_after_label_matching():
    a = _toy()
    a.obs["other"] = a.obs["truth"].map({"L1": "2", "L2": "0", "L3": "1"}).astype(str)
    a.obs.iloc[[0, 1, 70], a.obs.columns.get_loc("other")] = "0"
    a.obs["gappy"] = a.obs["other"].astype(object)
    a.obs.iloc[[0], a.obs.columns.get_loc("gappy")] = np.nan
    out = disagreement(a, "truth", "other", key_added="diff")
    assert out.dtype == bool and np.flatnonzero(out).tolist() == [0, 1, 70]
    assert a.obs["diff"].sum() == 3 and a.uns["diff"]["fraction"] == pytest.approx(3 / 90)
    assert a.uns["diff"]["mapping"] == {"0": "L2", "1": "L3", "2": "L1"}
    assert np.flatnonzero(disagreement(a, "truth", "gappy")).tolist() == [1, 70]
