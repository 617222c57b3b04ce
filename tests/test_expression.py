"""Per-gene values for painting: correctness, meta-genes, cache, layers, errors."""

from __future__ import annotations

import gc

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from napari_scdl.errors import ScdlError
from napari_scdl.tl import gene_names, gene_values, group_summary
from napari_scdl.tl.expression import EXPRESSION_CACHE


def _adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.poisson(1.5, size=(60, 8)).astype(np.float32)
    X[0] = 0  # an empty spot
    var = pd.DataFrame(index=["MBP", "PLP1", "MOBP", "PCP4", "GFAP", "SNAP25", "Mt-Co1", "X9"])
    obs = pd.DataFrame(
        {"grp": pd.Categorical(np.repeat(["a", "b", "c"], 20))}, index=[f"s{i}" for i in range(60)]
    )
    a = ad.AnnData(X=sp.csr_matrix(X), obs=obs, var=var)
    a.layers["m_imputed"] = rng.uniform(0, 3, size=(60, 8)).astype(np.float32)
    return a


def _expected(X: np.ndarray, j: int) -> np.ndarray:
    tot = X.sum(1)
    tot[tot == 0] = 1
    return np.log1p(X[:, j] * 1e4 / tot)


def test_single_gene_matches_manual_normalisation():
    a = _adata()
    dense = a.X.toarray()
    v = gene_values(a, "PCP4")
    assert v.dtype == np.float32 and v.shape == (a.n_obs,)
    np.testing.assert_allclose(v, _expected(dense, 3), rtol=1e-5)
    assert v[0] == 0
    np.testing.assert_array_equal(a.X.toarray(), dense)  # X untouched


def test_meta_gene_mean_and_sum():
    a = _adata()
    dense = a.X.toarray()
    both = _expected(dense, 0) + _expected(dense, 1)
    np.testing.assert_allclose(gene_values(a, ["MBP", "PLP1"], agg="sum"), both, rtol=1e-5)
    np.testing.assert_allclose(gene_values(a, ["MBP", "PLP1"]), both / 2, rtol=1e-5)
    with pytest.raises(ScdlError, match="agg"):
        gene_values(a, ["MBP"], agg="max")


def test_dense_x_and_raw_values():
    a = _adata()
    b = ad.AnnData(X=a.X.toarray(), obs=a.obs, var=a.var)
    np.testing.assert_allclose(gene_values(b, "GFAP"), gene_values(a, "GFAP"), rtol=1e-5)
    np.testing.assert_allclose(gene_values(a, "GFAP", normalize=False), a.X[:, 4].toarray().ravel())


def test_imputed_layer_is_not_renormalised():
    a = _adata()
    v = gene_values(a, "SNAP25", layer="m_imputed")
    np.testing.assert_allclose(v, a.layers["m_imputed"][:, 5])
    with pytest.raises(ScdlError, match="not in adata.layers"):
        gene_values(a, "SNAP25", layer="nope")


def test_negative_values_refuse_normalisation():
    a = _adata()
    a.layers["scaled"] = a.X.toarray() - 1
    with pytest.raises(ScdlError, match="negative"):
        gene_values(a, "MBP", layer="scaled", normalize=True)
    # auto: non-integer/negative values are used as they are
    np.testing.assert_allclose(gene_values(a, "MBP", layer="scaled"), a.layers["scaled"][:, 0])


def test_names_case_and_suggestions():
    a = _adata()
    assert gene_names(a)[:2] == ["MBP", "PLP1"]
    np.testing.assert_array_equal(gene_values(a, "mt-co1"), gene_values(a, "Mt-Co1"))
    with pytest.raises(ScdlError, match="did you mean PLP1"):
        gene_values(a, "PLP2")
    with pytest.raises(ScdlError, match="no gene"):
        gene_values(a, [])


def test_cache_reused_rebuilt_and_dropped():
    EXPRESSION_CACHE.clear()
    a = _adata()
    gene_values(a, "MBP")
    first = EXPRESSION_CACHE.get(a, None, True)
    gene_values(a, "PLP1")
    assert EXPRESSION_CACHE.get(a, None, True) is first and len(EXPRESSION_CACHE) == 1
    a.X = a.X * 2  # a new matrix object: rebuilt
    assert EXPRESSION_CACHE.get(a, None, True) is not first
    del a, first
    gc.collect()
    assert len(EXPRESSION_CACHE) == 0


def test_group_summary():
    a = _adata()
    df = group_summary(a, ["MBP", "PCP4"], "grp")
    assert list(df.columns) == ["group", "gene", "mean", "pct", "n_spots"]
    assert len(df) == 6 and set(df.n_spots) == {20}
    v = gene_values(a, "PCP4")
    row = df[(df.group == "b") & (df.gene == "PCP4")].iloc[0]
    assert row["mean"] == pytest.approx(v[20:40].mean(), rel=1e-5)
    assert row["pct"] == pytest.approx((v[20:40] > 0).mean())


def test_prepare_expression_warms_cache():
    from napari_scdl.tl import prepare_expression

    a = _adata()
    EXPRESSION_CACHE.clear(a)
    prepare_expression(a)
    assert len(EXPRESSION_CACHE) >= 1
    np.testing.assert_allclose(gene_values(a, "MBP"), _expected(a.X.toarray(), 0), rtol=1e-5)
