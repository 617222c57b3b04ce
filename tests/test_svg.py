"""Spatially variable genes (Moran's I over the spot graph)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from napari_scdl.errors import ScdlError
from napari_scdl.tl import spatially_variable_genes
from napari_scdl.tl.svg import SVG_COLUMNS


@pytest.fixture(scope="module")
def sample():
    from napari_scdl.datasets import synthetic_visium

    a = synthetic_visium(600, n_genes=40, image=False)
    X = sp.csc_matrix(a.X).toarray()
    j = list(a.var_names).index("MK3_0")  # marker of the largest domain
    X[:, -1] = np.random.default_rng(0).permutation(X[:, j])  # same values, no pattern
    a.X = sp.csr_matrix(X)
    a.var_names = [*a.var_names[:-1], "SHUFFLED"]
    return a


def test_patterned_genes_rank_first(sample):
    df = spatially_variable_genes(sample)
    assert list(df.columns) == SVG_COLUMNS
    assert (df.I.diff().dropna() <= 1e-12).all()
    top = df.iloc[0]
    assert top.gene.startswith("MK") and top.I > 0.15 and top.pval_adj < 1e-6
    shuffled = df.set_index("gene").loc["SHUFFLED"]
    original = df.set_index("gene").loc["MK3_0"]
    assert abs(shuffled.I) < 0.1 and original.I > shuffled.I + 0.1
    uns = sample.uns["moranI"]
    assert uns["params"]["n_spots"] == sample.n_obs and len(uns["table"]) == len(df)


def test_within_one_domain(sample):
    n_in = int((sample.obs["truth"] == "Layer3").sum())
    df = spatially_variable_genes(sample, groupby="truth", group="Layer3", key_added="svg_l3")
    params = sample.uns["svg_l3"]["params"]
    assert 3 <= params["n_spots"] <= n_in and params["group"] == "Layer3"
    whole = spatially_variable_genes(sample, key_added="svg_all").set_index("gene")
    # a domain's own marker is flat inside the domain: less autocorrelated than slide-wide
    assert df.set_index("gene").I.max() < whole.I.max()


def test_permutations_reproducible(sample):
    kw = dict(genes=["MK3_0", "SHUFFLED"], n_perms=30, key_added="svg_p")
    a = spatially_variable_genes(sample, seed=3, **kw)
    b = spatially_variable_genes(sample, seed=3, **kw)
    np.testing.assert_array_equal(a.pval.to_numpy(), b.pval.to_numpy())
    assert (a.pval >= 1 / 31 - 1e-12).all()
    assert a.set_index("gene").loc["MK3_0", "pval"] < a.set_index("gene").loc["SHUFFLED", "pval"]


def test_top_variable_subset(sample):
    df = spatially_variable_genes(sample, n_top_genes=5, key_added="svg_top")
    assert len(df) == 5


def test_errors(sample):
    with pytest.raises(ScdlError, match="both groupby and group"):
        spatially_variable_genes(sample, group="Layer1")
    with pytest.raises(ScdlError, match="not in obs"):
        spatially_variable_genes(sample, groupby="truth", group="nope")
    with pytest.raises(ScdlError, match="did you mean"):
        spatially_variable_genes(sample, genes=["MK1_O"])
    with pytest.raises(ScdlError, match="n_perms"):
        spatially_variable_genes(sample, genes=["MK1_0"], n_perms=0)
