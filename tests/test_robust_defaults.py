"""Every tool finishes with its defaults on the shapes of real slides (issue 12): a sparse
CytAssist-like slide, a tiny section, a 33-gene panel of normalised floats, scaled values, a
legacy ST grid. Fallbacks are warnings in ``uns[key]['warnings']``, recorded in ``params``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from napari_scdl.errors import ModelSetupError
from napari_scdl.preprocessing import expression_input, select_genes

pytestmark = pytest.mark.realdata

#: models that need an input of the user's beyond the sample: what the test gives them
NEEDS = {"semisup": "labels"}
SHAPES = ["sparse", "tiny", "panel33", "scaled", "legacy_st"]


@pytest.fixture(scope="module")
def shapes():
    from robust_fixtures import shapes as build

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(200)


def _partial_labels(adata) -> np.ndarray:
    """Two categories by position, a third of the spots labelled (an annotator's strokes)."""
    x = np.asarray(adata.obsm["spatial"])[:, 0]
    lab = np.where(x < np.median(x), "left", "right").astype(object)
    lab[np.arange(adata.n_obs) % 3 != 0] = None
    return lab


def test_sparse_fixture_breaks_plain_seurat_v3_and_selection_falls_back(shapes):
    import scanpy as sc

    a = shapes["sparse"]
    with pytest.raises(ValueError):  # what users hit: the loess fit is singular
        sc.pp.highly_variable_genes(a.copy(), flavor="seurat_v3", n_top_genes=3000)
    sel = select_genes(a, 1000)
    assert sel.mask.sum() == 1000
    assert not sel.mask[-8000:].any()  # never-detected genes are never chosen
    assert sel.flavor != "seurat_v3" and sel.notes and "Seurat v3" in sel.notes[0]
    assert sel.mask[np.asarray((a.X > 0).sum(0)).ravel() < 3].sum() == 0  # no rare gene


@pytest.mark.parametrize("shape", SHAPES)
def test_domains_defaults_finish_on_every_shape(shapes, shape):
    import napari_scdl as scdl

    a = shapes[shape].copy()
    scdl.tl.domains(a)
    assert a.obs["domain"].nunique() >= 2
    conf = a.obs["domain_confidence"].to_numpy()
    assert np.isfinite(conf).all() and ((conf >= 0) & (conf <= 1)).all()
    pre = a.uns["domain"]["params"]["preprocessing"]
    assert pre["gene_selection"]["n_genes"] >= 2
    if shape == "sparse":  # too few genes for 3,000, or Seurat v3 failed: either is said
        assert pre["gene_selection"]["flavor"] != "seurat_v3" and a.uns["domain"]["warnings"]
    if shape in ("panel33", "scaled"):
        assert pre["input_values"] in ("log-normalised", "scaled")
        assert any("raw counts" in w for w in a.uns["domain"]["warnings"])


def _registered():
    from napari_scdl.models import list_models

    return sorted(set(list_models()) - {"domain_gcn"})


@pytest.mark.parametrize("shape", ["sparse", "tiny", "panel33", "scaled"])
@pytest.mark.parametrize("model", _registered())
def test_every_model_defaults_finish_or_say_what_is_missing(shapes, shape, model):
    """Each registered model runs with its defaults and writes its keys; a model that needs
    an input of the user's says which (a ModelSetupError), never a numerical error."""
    from napari_scdl.models import get_model
    from napari_scdl.tl import run_model

    a = shapes[shape].copy()
    cls = get_model(model)
    if NEEDS.get(model) == "labels":
        a.obs["annotation"] = _partial_labels(a)
    try:
        m = run_model(a, cls())
    except ModelSetupError as err:
        assert model not in NEEDS, f"{model} with its inputs given: {err}"
        assert str(err).strip()
        return
    key = m.default_key or m.name
    assert key in a.uns and "params" in a.uns[key]
    for label_key in (key,):
        if label_key in a.obs:
            assert a.obs[label_key].notna().any()
    if f"{key}_confidence" in a.obs:
        c = a.obs[f"{key}_confidence"].to_numpy(dtype=float)
        assert np.nanmin(c) >= 0 and np.nanmax(c) <= 1


# -- the value kinds a file can hold ----------------------------------------------------------
def _toy(X):
    import anndata as ad

    return ad.AnnData(X=X)


def test_expression_input_reads_every_kind_of_values():
    rng = np.random.default_rng(0)
    counts = sp.csr_matrix(rng.poisson(1.0, (50, 20)).astype(np.float32))
    assert expression_input(_toy(counts)).kind == "counts"

    tot = np.asarray(counts.sum(1)).ravel()
    lognorm = sp.csr_matrix(np.log1p(counts.toarray() / tot[:, None] * 1e4))
    e = expression_input(_toy(lognorm))
    assert e.kind == "log-normalised" and e.notes
    np.testing.assert_allclose(np.asarray(e.X.sum(1)).ravel(), 1e4, rtol=1e-4)

    a = _toy(lognorm.copy())
    a.layers["counts"] = counts
    assert expression_input(a).source == "layers['counts']"

    b = _toy(lognorm.copy())
    b.raw = _toy(counts)
    e = expression_input(b)
    assert (e.kind, e.source) == ("counts", "raw.X")

    scaled = (lognorm.toarray() - lognorm.toarray().mean(0)) / (lognorm.toarray().std(0) + 1e-6)
    e = expression_input(_toy(scaled.astype(np.float32)))
    assert e.kind == "scaled" and e.X.min() >= 0 and np.isfinite(e.X.data).all()

    cpm = sp.csr_matrix(counts.toarray() / tot[:, None] * 1e6)
    assert expression_input(_toy(cpm)).kind == "normalised"


def test_select_genes_drops_rare_genes_and_says_when_all_are_used():
    rng = np.random.default_rng(1)
    X = rng.poisson(2.0, (100, 30)).astype(np.float32)
    X[:, :5] = 0
    X[0, 0] = 1  # detected in one spot only
    sel = select_genes(_toy(sp.csr_matrix(X)), 3000)
    assert sel.mask.sum() == 26 and not sel.mask[1:5].any()
    assert "all 26 are used" in sel.notes[0]
    assert select_genes(_toy(sp.csr_matrix(X)), 0).mask.sum() == 26
    assert select_genes(_toy(sp.csr_matrix(X)), 10).mask.sum() == 10


def test_cli_domains_on_a_sparse_slide_and_no_traceback_on_failure(shapes, tmp_path, capsys,
                                                                   monkeypatch):
    from napari_scdl.cli import main
    from napari_scdl.io import write_h5ad

    src = write_h5ad(shapes["sparse"].copy(), str(tmp_path / "sparse.h5ad"))
    assert main(["domains", str(src), "--out", str(tmp_path / "out.h5ad")]) == 0
    assert "domains:" in capsys.readouterr().out

    import napari_scdl.tl as tl

    def broken(*a, **k):
        raise RuntimeError("something numerical")

    monkeypatch.setattr(tl, "domains", broken)
    assert main(["domains", str(src), "--out", str(tmp_path / "o2.h5ad")]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: something numerical" in err and "Traceback" not in err
