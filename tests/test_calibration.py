"""Calibration: ECE / reliability table on known cases; the label-free spot confidence
(:func:`napari_scdl.clustering.spot_confidence`) as written by ``domain_gcn``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from napari_scdl.clustering import CONFIDENCE_METHOD, match_partition, spot_confidence
from napari_scdl.errors import ScdlError
from napari_scdl.metrics import expected_calibration_error, majority_correct, reliability_table

FAST = {"epochs": 60, "lr": 1e-2, "n_top_genes": 100, "n_pcs": 15, "n_latent": 8}


# -- metrics ------------------------------------------------------------------------------------
def test_ece_known_cases():
    # perfectly calibrated: 80% right at confidence 0.8 (bin 0.8-0.9), all right at 1.0
    conf = np.r_[np.full(10, 0.8), np.ones(5)]
    correct = np.r_[np.ones(8), np.zeros(2), np.ones(5)]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)
    # always sure, right half the time: ECE 0.5
    assert expected_calibration_error(np.ones(4), [1, 0, 1, 0]) == pytest.approx(0.5)
    # two bins, weighted by their spots: (2/3) * |0.5 - 0.9| + (1/3) * |0 - 0.2|
    assert expected_calibration_error([0.9, 0.9, 0.2], [1, 0, 0]) == pytest.approx(1 / 3)
    # NaN correctness (unannotated spot) is left out
    assert expected_calibration_error([0.9, 0.1], [1, np.nan]) == pytest.approx(0.1)


def test_reliability_table_bins():
    table = reliability_table([0.0, 0.05, 0.1, 0.95, 1.0], [1, 0, 1, 1, 0], n_bins=10)
    assert len(table) == 10 and table["n"].sum() == 5
    assert table["n"].tolist()[:2] == [2, 1] and table["n"].iloc[-1] == 2  # 1.0 in the last
    assert table["accuracy"].iloc[0] == pytest.approx(0.5)
    assert table["confidence"].iloc[-1] == pytest.approx(0.975)
    assert np.isnan(table["accuracy"].iloc[5])  # empty bin
    with pytest.raises(ScdlError):
        reliability_table([0.5], [1, 0])


def test_majority_correct():
    truth = np.array(["a", "a", "b", "b", "b", None], dtype=object)
    labels = np.array([0, 0, 0, 1, 1, 1])
    out = majority_correct(truth, labels)
    # cluster 0 is mostly "a": its "b" spot is wrong; cluster 1 is "b"; the last is unscored
    np.testing.assert_array_equal(out[:5], [1, 1, 0, 1, 1])
    assert np.isnan(out[5])


# -- spot_confidence on a toy graph --------------------------------------------------------------
def _path_graph(n: int) -> sp.csr_matrix:
    a = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], shape=(n, n))
    return sp.csr_matrix(a)


def test_rule_of_succession_on_a_path():
    labels = np.array([0, 0, 0, 1, 1, 1])
    conf = spot_confidence(labels, adjacency=_path_graph(6))
    # spot 1: itself + 2 neighbours agree -> (3 + 1) / (3 + 2); spot 2: 2 of 3 -> 3/5
    assert conf[1] == pytest.approx(4 / 5) and conf[2] == pytest.approx(3 / 5)
    assert conf[0] == pytest.approx(3 / 4)  # end: itself + 1 neighbour
    # a restart that disagrees on spot 2 lowers it; relabelled restarts do not matter
    other = np.array([1, 1, 0, 0, 0, 0])  # = labels with 0 <-> 1, spot 2 moved
    conf2 = spot_confidence(labels, adjacency=_path_graph(6), alternatives=[other])
    assert conf2[2] == pytest.approx((3 + 1) / (6 + 2)) and conf2[5] == pytest.approx(5 / 6)


def test_match_partition():
    ref = np.array([0, 0, 1, 1, 2])
    np.testing.assert_array_equal(match_partition(ref, np.array([2, 2, 0, 0, 1])), ref)
    with pytest.raises(ScdlError):
        match_partition(ref, ref[:3])


def test_embedding_graph_without_adjacency():
    rng = np.random.default_rng(0)
    emb = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(8, 1, (40, 2))]
    conf = spot_confidence(np.r_[np.zeros(40), np.ones(40)].astype(int), embedding=emb)
    assert conf.shape == (80,) and np.all((conf > 0.9) & (conf < 1))
    with pytest.raises(ScdlError):
        spot_confidence(np.zeros(3, int))


# -- what domain_gcn writes ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def _slide():
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(400, n_domains=4, n_genes=100, seed=1, image=False)


@pytest.fixture(scope="module")
def fitted(_slide):
    from napari_scdl.tl import domains

    adata = _slide.copy()
    domains(adata, n_domains=4, seed=0, device="cpu", n_networks=2, **FAST)
    return adata


def test_confidence_is_graded_and_lower_on_borders(fitted):
    from napari_scdl.graph import build_graph

    conf = fitted.obs["domain_confidence"].to_numpy()
    assert (conf >= 0.99).mean() < 0.5 and conf.std() > 0.02
    # spots whose whole neighbourhood is one true layer vs spots at a true layer border
    truth = fitted.obs["truth"].astype(str).to_numpy()
    adj = sp.csr_matrix(build_graph(fitted, n_neighbors=6))
    rows = np.repeat(np.arange(adj.shape[0]), np.diff(adj.indptr))
    mixed = np.bincount(rows, truth[adj.indices] != truth[rows], minlength=adj.shape[0]) > 0
    assert conf[~mixed].mean() > conf[mixed].mean() + 0.05
    assert fitted.uns["domain"]["confidence_method"] == CONFIDENCE_METHOD


def test_same_seed_same_confidence(_slide, fitted):
    from napari_scdl.tl import domains

    again = _slide.copy()
    domains(again, n_domains=4, seed=0, device="cpu", n_networks=2, **FAST)
    np.testing.assert_array_equal(
        again.obs["domain_confidence"].to_numpy(), fitted.obs["domain_confidence"].to_numpy()
    )


def test_calibrated_on_a_synthetic_slide(fitted):
    correct = majority_correct(fitted.obs["truth"].astype(str), fitted.obs["domain"])
    ece = expected_calibration_error(fitted.obs["domain_confidence"], correct)
    assert ece < 0.2  # measured 0.09 on 1500-spot slides (benchmarks/bench_calibration.py)
