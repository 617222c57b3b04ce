"""Marker genes: statistics against scanpy, table layout, storage, filters, errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from napari_scdl.errors import ScdlError
from napari_scdl.tl import export_markers_csv, filter_markers, get_markers, markers
from napari_scdl.tl.expression import log_expression
from napari_scdl.tl.markers import COLUMNS, benjamini_hochberg, wilcoxon_sparse


def _toy(seed: int = 0, n_per: int = 40) -> ad.AnnData:
    """3 groups x n_per spots, 30 genes of Poisson counts; gene Ak is up in group k."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(["A", "B", "C"], n_per)
    lam = np.full((groups.size, 30), 2.0)
    for k, g in enumerate("ABC"):
        lam[groups == g, k] = 20.0
    lam[:, 29] = 0.0  # a gene never detected
    X = sp.csr_matrix(rng.poisson(lam).astype(np.float32))
    genes = ["MA", "MB", "MC"] + [f"G{i}" for i in range(3, 30)]
    obs = pd.DataFrame(
        {"grp": pd.Categorical(groups), "num": np.repeat([1, 2, 3], n_per)},
        index=[f"s{i}" for i in range(groups.size)],
    )
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))


@pytest.fixture(scope="module")
def toy():
    return _toy()


def test_table_layout_and_top_markers(toy):
    X_before = toy.X.copy()
    df = markers(toy, "grp")
    assert list(df.columns) == COLUMNS
    assert len(df) == 3 * toy.n_vars
    for g, gene in zip("ABC", ["MA", "MB", "MC"], strict=True):
        sub = df[df.group == g]
        assert sub.gene.iloc[0] == gene
        top = sub.iloc[0]
        assert top.log2fc > 2 and top.pval_adj < 1e-10 and top.pct_in == 1.0
        assert (sub.score.diff().dropna() <= 0).all()  # sorted by score
    assert ((df.pval_adj >= df.pval) | np.isclose(df.pval_adj, df.pval)).all()
    assert ((df.pct_in >= 0) & (df.pct_in <= 1)).all()
    never = df[df.gene == "G29"]
    assert (never.pval == 1).all() and (never.log2fc == 0).all()
    assert (toy.X != X_before).nnz == 0  # user's X untouched
    assert set(toy.uns["markers"]) >= {"table", "params", "versions"}


def test_wilcoxon_matches_scanpy(toy):
    import scanpy as sc

    X = log_expression(toy)
    tmp = ad.AnnData(X=X, obs=toy.obs[["grp"]].copy())
    tmp.var_names = [str(i) for i in range(X.shape[1])]
    sc.tl.rank_genes_groups(
        tmp, "grp", method="wilcoxon", tie_correct=True, use_raw=False, n_genes=X.shape[1]
    )
    ours = wilcoxon_sparse(X, toy.obs.grp.cat.codes.to_numpy().astype(np.int64), 3)
    for k, g in enumerate("ABC"):
        idx = np.asarray(tmp.uns["rank_genes_groups"]["names"][g]).astype(int)
        ref = np.zeros(X.shape[1])
        ref[idx] = np.nan_to_num(np.asarray(tmp.uns["rank_genes_groups"]["scores"][g], float))
        np.testing.assert_allclose(ours[k]["score"], ref, atol=1e-4)


def test_reference_group_matches_scanpy(toy):
    import scanpy as sc

    df = markers(toy, "grp", reference="C", key_added="m_ref")
    assert set(df.group) == {"A", "B"}
    tmp = ad.AnnData(X=log_expression(toy), obs=toy.obs[["grp"]].copy())
    tmp.var_names = list(toy.var_names)
    sc.tl.rank_genes_groups(
        tmp,
        "grp",
        reference="C",
        method="wilcoxon",
        tie_correct=True,
        use_raw=False,
        n_genes=toy.n_vars,
    )
    res = sc.get.rank_genes_groups_df(tmp, group="A").set_index("names")
    a = df[df.group == "A"].set_index("gene")
    np.testing.assert_allclose(a.score, res.loc[a.index, "scores"], atol=1e-4)
    # pct_out is the reference group's detection rate
    mc = a.loc["MC"]
    assert mc.pct_out == 1.0 and mc.log2fc < -2


def test_t_test_and_groups_subset(toy):
    df = markers(toy, "grp", method="t-test", groups=["B"])
    assert set(df.group) == {"B"} and df.gene.iloc[0] == "MB"


def test_numeric_column_and_missing_labels(toy):
    a = toy.copy()
    a.obs["num"] = a.obs["num"].astype(float)
    a.obs.loc[a.obs_names[:5], "num"] = np.nan
    df = markers(a, "num")
    assert set(df.group) == {"1.0", "2.0", "3.0"}
    assert a.uns["markers"]["params"]["n_unlabelled"] == 5


def test_min_pct_filters_and_rescales_bh(toy):
    df = markers(toy, "grp", min_pct=0.5, key_added="m_pct")
    assert (np.maximum(df.pct_in, df.pct_out) >= 0.5).all()
    assert "G29" not in set(df.gene)


def test_storage_roundtrip(toy, tmp_path):
    df = markers(toy, "grp")
    path = tmp_path / "m.h5ad"
    toy.write_h5ad(path)
    back = get_markers(ad.read_h5ad(path))
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=False)


def test_filter_and_export(toy, tmp_path):
    df = markers(toy, "grp")
    top = filter_markers(df, top_n=2, pval_adj_max=None, log2fc_min=None)
    assert top.groupby("group").size().tolist() == [2, 2, 2]
    sig = filter_markers(df, group="A")
    assert set(sig.group) == {"A"} and (sig.pval_adj <= 0.05).all() and (sig.log2fc >= 0.25).all()
    path = export_markers_csv(top, tmp_path / "m.csv")
    assert list(pd.read_csv(path).columns) == COLUMNS
    with pytest.raises(ScdlError, match="does not exist"):
        export_markers_csv(top, tmp_path / "nope" / "m.csv")


def test_benjamini_hochberg_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(size=200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"groupby": "nope"}, "no column 'nope'"),
        ({"groupby": "grp", "reference": "Z"}, "reference group 'Z'"),
        ({"groupby": "grp", "groups": ["Q"]}, "not in obs"),
        ({"groupby": "grp", "method": "bogus"}, "method must be"),
        ({"groupby": "one"}, "at least 2"),
        ({"groupby": "tiny"}, "fewer than 2 spots"),
    ],
)
def test_errors(toy, kwargs, match):
    a = toy.copy()
    a.obs["one"] = "x"
    a.obs["tiny"] = pd.Categorical(["a"] * (a.n_obs - 1) + ["b"])
    with pytest.raises(ScdlError, match=match):
        markers(a, **kwargs)


def test_dense_log_layer_used_as_is(toy):
    a = toy.copy()
    a.layers["m_imputed"] = log_expression(toy).toarray()
    df = markers(a, "grp", layer="m_imputed", key_added="m_dense")
    ref = markers(toy, "grp", key_added="m_sparse")
    assert a.uns["m_dense"]["params"]["normalized"] is False
    np.testing.assert_allclose(df.score.to_numpy(), ref.score.to_numpy(), atol=1e-4)
