"""``subclones``: robust deep autoencoder subclones inside a region (issue 17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)
from sklearn.metrics import adjusted_rand_score
from tests_paths import SHARED
from tumour_fixtures import synthetic_tumour

from napari_scdl.errors import ModelSetupError, ScdlError
from napari_scdl.models import BaseModel, get_model
from napari_scdl.tl import run_model

FAST = {"epochs": 40, "n_hidden": 64}


@pytest.fixture(scope="module")
def tumour():
    return synthetic_tumour(600, n_genes=400, seed=2)


def _ari(adata, key):
    truth = adata.obs["clone_truth"]
    m = truth.notna().to_numpy()
    return adjusted_rand_score(truth[m].astype(str), adata.obs[key][m].astype(str))


def test_region_only_nan_outside_tree_markers(tumour):
    a = tumour.copy()
    before = a.obs.copy()
    model = run_model(a, "subclones", region="annotation=tumour", **FAST)
    inside = (a.obs["annotation"] == "tumour").to_numpy()
    assert a.obs["subclone"][~inside].isna().all() and a.obs["subclone"][inside].notna().all()
    conf = a.obs["subclone_confidence"].to_numpy()
    assert np.isnan(conf[~inside]).all() and ((conf[inside] >= 0) & (conf[inside] <= 1)).all()
    assert np.isnan(a.obsm["X_subclone"][~inside]).all()
    assert a.obsm["X_subclone"].shape == (a.n_obs, 16)
    assert np.isnan(a.obs["subclone_outlier"][~inside]).all()
    uns = a.uns["subclone"]
    k = a.obs["subclone"].nunique()
    assert 2 <= k <= 8 and str(k) in uns["k_scores"]  # chosen automatically, scores shown
    assert max(uns["k_scores"], key=uns["k_scores"].get) == str(k)
    tree = uns["tree"]
    assert tree["linkage"].shape == (k - 1, 4) and tree["distances"].shape == (k, k)
    assert tree["newick"].endswith(";") and all(str(i) in tree["newick"] for i in range(1, k + 1))
    mk = uns["markers"]
    assert {"group", "gene", "log2fc", "pval", "pval_adj"} <= set(mk.columns)
    assert set(mk["group"]) == set(a.obs["subclone"].dropna().astype(str))
    assert uns["region"] == "annotation=tumour" and uns["n_region_spots"] == inside.sum()
    assert len(model.history["outlier_fraction"]) == 5  # one outlier update per round
    assert not any("no region" in w for w in model.warnings)
    pd.testing.assert_frame_equal(a.obs[before.columns], before)  # the user's columns untouched


def test_robust_beats_plain_autoencoder_with_outliers(tumour):
    a = tumour.copy()
    # the defaults (100 epochs, 128 hidden units), for both
    run_model(a, "subclones", region="annotation=tumour", n_subclones=3, key_added="rob", seed=2)
    run_model(a, "subclones", region="annotation=tumour", n_subclones=3, robust=False,
              key_added="plain", seed=2)
    robust, plain = _ari(a, "rob"), _ari(a, "plain")
    assert robust > 0.6 and robust > plain + 0.1, (robust, plain)


def test_cnv_signal_from_a_gene_position_table(tumour, tmp_path):
    a = tumour.copy()
    table = a.var[["chromosome", "start"]].rename_axis("gene").reset_index()
    path = tmp_path / "genes.tsv"
    table.to_csv(path, sep="\t", index=False)
    del a.var["chromosome"], a.var["start"]
    with pytest.raises(ModelSetupError, match="gene positions"):
        run_model(a, "subclones", region="annotation=tumour", signal="cnv")
    model = run_model(a, "subclones", region="annotation=tumour", signal="cnv", n_subclones=3,
                      gene_positions=str(path), **FAST)
    assert _ari(a, "subclone") > 0.6
    pre = a.uns["subclone"]["params"]["preprocessing"]
    assert pre["signal"] == "cnv" and pre["n_chromosomes"] == 10
    assert pre["n_reference"] == (a.obs["annotation"] == "normal").sum()
    assert model.var_names[0] in set(table["gene"])


def test_gene_position_readers(tmp_path):
    from napari_scdl.tl.cnv import cnv_signal, read_gene_positions

    gtf = tmp_path / "g.gtf"
    gtf.write_text('chr2\tx\tgene\t500\t900\t.\t+\t.\tgene_id "E1"; gene_name "B";\n'
                   'chr1\tx\tgene\t100\t200\t.\t+\t.\tgene_id "E2"; gene_name "A";\n'
                   'chr1\tx\texon\t100\t200\t.\t+\t.\tgene_id "E2"; gene_name "A";\n')
    pos = read_gene_positions(gtf)
    assert pos.loc["A", "chromosome"] == "chr1" and pos.loc["B", "start"] == 500
    bed = tmp_path / "g.bed"
    bed.write_text("chr1\t10\t20\tA\nchr10\t5\t9\tC\n")
    assert list(read_gene_positions(bed).index) == ["A", "C"]
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    with pytest.raises(ScdlError, match="gene, chromosome and start"):
        read_gene_positions(bad)
    # a gain on one chromosome stands out after smoothing; genes come out in genome order
    genes = [f"G{i}" for i in range(40)]
    table = pd.DataFrame({"chromosome": ["chr2"] * 20 + ["chr1"] * 20,
                          "start": list(range(20)) * 2}, index=genes)
    L = np.random.default_rng(0).normal(0, 0.3, (30, 40))
    L[:10, :20] += 1.0  # spots 0-9 gain chr2
    sig, order, chroms = cnv_signal(L, genes, table, reference=np.arange(30) >= 20, window=11)
    assert chroms[0] == "chr1" and order[0] == "G20"
    assert sig[:10, 20:].mean() - sig[10:, 20:].mean() > 0.5  # chr2 (now columns 20-39)


def test_mask_region_same_seed_and_errors(tumour):
    a = tumour.copy()
    mask = (a.obs["annotation"] == "tumour").to_numpy()
    m1 = get_model("subclones")(region=mask, n_subclones=2, **FAST).fit(a, device="cpu", seed=3)
    m2 = get_model("subclones")(region=mask, n_subclones=2, **FAST).fit(a, device="cpu", seed=3)
    np.testing.assert_allclose(m1.get_latent(), m2.get_latent(), rtol=1e-5, atol=1e-6)
    assert (m1.get_labels() == m2.get_labels()).all()
    m1.write(a, "sel")
    assert a.uns["sel"]["region"] == f"a selection of {mask.sum()} spots"
    with pytest.raises(ModelSetupError, match="no column 'tissue'"):
        get_model("subclones")(region="tissue=tumour").setup(a)
    with pytest.raises(ModelSetupError, match=r"\['tumor'\] not in"):
        get_model("subclones")(region="annotation=tumor").setup(a)
    few = np.zeros(a.n_obs, dtype=bool)
    few[:3] = True
    with pytest.raises(ModelSetupError, match="at least 10"):
        get_model("subclones")(region=few).setup(a)


def test_no_region_uses_all_spots_with_a_warning_then_save_load(tumour, tmp_path):
    a = tumour.copy()
    model = run_model(a, "subclones", n_subclones=3, epochs=10)
    assert a.obs["subclone"].notna().all()
    assert any("no region given" in w for w in a.uns["subclone"]["warnings"])
    loaded = BaseModel.load(model.save(tmp_path / "s.pt"), device="cpu")
    loaded.transform(a)
    assert (loaded.get_labels() == model.get_labels()).mean() > 0.8
    loaded.write(a, "again")
    assert a.obs["again"].notna().all()


def test_cli_run_on_a_region(tumour, tmp_path, capsys):
    import anndata as ad

    from napari_scdl.cli import main
    from napari_scdl.io import write_h5ad

    src = write_h5ad(tumour.copy(), tmp_path / "t.h5ad")
    out = tmp_path / "o.h5ad"
    argv = ["run", "subclones", str(src), "--out", str(out), "--param", "region=annotation=tumour",
            "--param", "epochs=10", "--param", "n_subclones=2", "--device", "cpu"]
    assert main(argv) == 0
    b = ad.read_h5ad(out)
    assert b.obs["subclone"].nunique() == 2 and b.obs["subclone"].isna().sum() > 0
    assert b.uns["subclone"]["tree"]["newick"].endswith(";")
    assert "markers" in b.uns["subclone"]


@pytest.mark.realdata
@pytest.mark.slow  # ~100 s on the shared 2-core machine (15,000 genes)
@pytest.mark.skipif(not (SHARED / "her2st").exists(), reason="shared HER2+ data not present")
def test_her2_cancer_region_gives_subclones():
    import anndata as ad

    a = ad.read_h5ad(SHARED / "her2st" / "A1.h5ad")
    gt = pd.read_csv(SHARED / "her2st" / "A1_ground_truth.tsv", sep="\t").set_index("barcode")
    a.obs["pathology"] = pd.Categorical(gt["layer"].reindex(a.obs_names))
    run_model(a, "subclones", region="pathology=invasive cancer,cancer in situ", epochs=60)
    region = a.obs["pathology"].isin(["invasive cancer", "cancer in situ"]).to_numpy()
    assert a.obs["subclone"][region].notna().all() and a.obs["subclone"][~region].isna().all()
    assert a.obs["subclone"].nunique() >= 2
    assert len(a.uns["subclone"]["markers"]) > 0
