"""``gene_programs``: HGT attention programs per group (DeepMAPS-like, issue 17)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)
from tests_paths import DLPFC

from napari_scdl.errors import ModelSetupError, ScdlError
from napari_scdl.models import BaseModel, get_model
from napari_scdl.tl import run_model

FAST = {"epochs": 20, "n_program_genes": 20}


@pytest.fixture(scope="module")
def planted():
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(300, n_domains=3, n_genes=120, seed=0, image=False)


def _precision(table: pd.DataFrame, n: int) -> dict[str, float]:
    """Fraction of each layer's top ``n`` genes that are its planted markers (MK<d>_*)."""
    out = {}
    for g, df in table.groupby("group", sort=False, observed=True):
        top = list(df.sort_values("score", ascending=False, kind="stable")["gene"][:n])
        out[str(g)] = float(np.mean([x.startswith(f"MK{str(g)[-1]}_") for x in top]))
    return out


def test_programs_recover_planted_markers_like_wilcoxon(planted):
    from napari_scdl.tl import markers

    a = planted.copy()
    model = run_model(a, "gene_programs", groupby="truth", **FAST)
    uns = a.uns["gene_programs"]
    prog = uns["programs"]
    assert list(uns["groups"]) == ["Layer1", "Layer2", "Layer3"]
    assert {"group", "rank", "gene", "score", "attention_in", "attention_out"} <= set(prog.columns)
    assert (prog.groupby("group")["rank"].max() == 20).all()
    n_planted = (a.var_names.str.startswith("MK1_")).sum()
    hgt = _precision(prog, n_planted)
    wil = _precision(markers(a, "truth"), n_planted)
    assert min(hgt.values()) >= 0.8, hgt
    assert np.mean(list(hgt.values())) >= np.mean(list(wil.values())) - 0.15, (hgt, wil)
    # a score per spot for each program, highest in its own layer
    for g, col in dict(uns["score_columns"]).items():
        s = a.obs[col]
        assert np.isfinite(s).all()
        means = s.groupby(a.obs["truth"], observed=True).mean()
        assert means.idxmax() == g
    nets = uns["networks"]
    assert {"group", "source", "target", "weight"} <= set(nets.columns) and len(nets)
    assert (nets["weight"] > 0).all() and set(nets["group"]) <= set(uns["groups"])
    assert a.obsm["X_gene_programs"].shape == (a.n_obs, 64)
    assert "gene_programs" not in a.obs  # groups are the user's: no labels written
    assert model.history["loss"][-1] < model.history["loss"][0]


def test_without_groupby_clusters_become_groups_and_rerun_replaces(planted):
    a = planted.copy()
    run_model(a, "gene_programs", n_groups=3, **FAST)
    assert a.obs["gene_programs"].nunique() == 3
    assert any("no groupby" in w for w in a.uns["gene_programs"]["warnings"])
    cols = [c for c in a.obs if c.startswith("gene_programs_") and c != "gene_programs_confidence"]
    assert len(cols) == 3
    run_model(a, "gene_programs", groupby="truth", **FAST)
    left = [c for c in a.obs if c.startswith("gene_programs_")]
    assert sorted(left) == ["gene_programs_Layer1", "gene_programs_Layer2", "gene_programs_Layer3"]


def test_same_seed_same_programs_errors_and_save(planted, tmp_path):
    a = planted.copy()
    m1 = get_model("gene_programs")(groupby="truth", **FAST).fit(a, device="cpu", seed=1)
    m2 = get_model("gene_programs")(groupby="truth", **FAST).fit(a, device="cpu", seed=1)
    pd.testing.assert_frame_equal(m1._programs, m2._programs)
    with pytest.raises(ModelSetupError, match="no column 'domain'"):
        get_model("gene_programs")(groupby="domain").setup(a)
    with pytest.raises(ScdlError, match="divisible"):
        get_model("gene_programs")(n_hidden=30, n_heads=4)
    b = a.copy()
    del b.obsm["spatial"]
    with pytest.raises(ModelSetupError, match="obsm\\['spatial'\\]"):
        get_model("gene_programs")(groupby="truth").setup(b)
    loaded = BaseModel.load(m1.save(tmp_path / "gp.pt"), device="cpu")
    assert loaded.hparams == m1.hparams and loaded.var_names == m1.var_names


def test_hgt_attention_sums_to_one_per_spot():
    import torch

    from napari_scdl.models.nn._hgt import (
        GENE_TO_SPOT,
        SPOT_TO_GENE,
        SPOT_TO_SPOT,
        GeneProgramHGT,
    )

    torch.manual_seed(0)
    s = torch.tensor([0, 0, 1, 2, 2, 2])
    g = torch.tensor([0, 1, 1, 0, 1, 2])
    batch = {"x_spot": torch.randn(3, 5), "x_gene": torch.randn(3, 4),
             "edges": {GENE_TO_SPOT: torch.stack([g, s]), SPOT_TO_GENE: torch.stack([s, g]),
                       SPOT_TO_SPOT: torch.tensor([[0, 1], [1, 0]])}}
    net = GeneProgramHGT(5, 4, n_hidden=8, n_heads=2, n_layers=1)
    alpha = net.attention(batch)
    assert alpha.shape == (6,) and (alpha > 0).all()
    # spot 2 has only gene edges (its attention over them sums to one); spots 0, 1 share
    # theirs with a spatial neighbour
    assert torch.isclose(alpha[s == 2].sum(), torch.tensor(1.0), atol=1e-5)
    assert alpha[s == 0].sum() < 1 and "GeneProgramHGT" in repr(net)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not DLPFC.exists(), reason="shared DLPFC data not present")
@pytest.mark.skipif(
    not os.environ.get("SCDL_SLOW_TESTS"),
    reason="about 3 minutes on 2 cores: set SCDL_SLOW_TESTS=1 (benchmarks/bench_tumour.py "
    "measures the same)",
)
def test_dlpfc_white_matter_program_has_myelin_genes():
    import napari_scdl as scdl

    a = scdl.io.read(DLPFC)
    gt = pd.read_csv(DLPFC / "ground_truth.tsv", sep="\t").set_index("barcode")["layer"]
    a.obs["layer"] = pd.Categorical(gt.reindex(a.obs_names))
    run_model(a, "gene_programs", groupby="layer", max_genes_per_spot=50, epochs=20)
    prog = a.uns["gene_programs"]["programs"]
    wm = list(prog[prog["group"] == "WM"]["gene"][:20])
    assert {"MBP", "PLP1", "MOBP"} <= set(wm), wm


def test_large_samples_train_on_spatial_tiles(planted, monkeypatch):
    """Above TRAIN_SPOTS an epoch sees a subgraph of random tiles; the programs still find
    the planted markers and every spot gets its embedding and scores."""
    from napari_scdl.models import gene_programs as gp

    monkeypatch.setattr(gp, "TRAIN_SPOTS", 120)
    monkeypatch.setattr(gp, "TRAIN_TILE_SPOTS", 30)
    a = planted.copy()
    model = run_model(a, "gene_programs", groupby="truth", epochs=40, n_program_genes=20)
    assert any("spatial tiles" in w for w in a.uns["gene_programs"]["warnings"])
    n_planted = (a.var_names.str.startswith("MK1_")).sum()
    assert min(_precision(a.uns["gene_programs"]["programs"], n_planted).values()) >= 0.7
    assert a.obsm["X_gene_programs"].shape == (a.n_obs, 64)
    assert model.history["loss"][-1] < model.history["loss"][0]
    tiles = gp._spatial_tiles(np.asarray(a.obsm["spatial"], float), 30)
    assert sorted(np.concatenate(tiles)) == list(range(a.n_obs))
