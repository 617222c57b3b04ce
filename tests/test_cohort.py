"""Joint domains over slides (tl.cohort_domains) and the dask runner (cohort.run_cohort)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cohort_fixtures import FAST
from cohort_fixtures import layer_to_domain as _layer_to_domain
from sklearn.metrics import adjusted_rand_score

from napari_scdl.cohort._synthetic import synthetic_cohort
from napari_scdl.errors import ScdlError


@pytest.fixture(scope="module")
def joint(slides):
    from napari_scdl.tl import cohort_domains

    copies = {k: v.copy() for k, v in slides.items()}
    return cohort_domains(list(copies.values()), sample_ids=list(copies), n_domains=5,
                          use_histology=False, seed=0, **FAST)


def test_joint_model_gives_one_labelling(slides, joint):
    """Separate runs name the layers differently; the joint model names each layer the same
    on every slide and recovers the layers on each."""
    from napari_scdl.tl import domains

    maps = []
    for a in slides.values():
        b = a.copy()
        domains(b, n_domains=5, use_histology=False, seed=0, **FAST)
        maps.append(_layer_to_domain(b))
    assert any(m != maps[0] for m in maps[1:]), "separate runs should disagree on ids"
    joint_maps = [_layer_to_domain(a) for a in joint.adatas.values()]
    assert all(m == joint_maps[0] for m in joint_maps)
    assert len(set(joint_maps[0].values())) == 5  # one domain per layer
    for a in joint.adatas.values():
        assert adjusted_rand_score(a.obs["truth"], a.obs["domain"]) > 0.6


def test_results_per_slide_and_summary(joint):
    cats = [list(a.obs["domain"].cat.categories) for a in joint.adatas.values()]
    assert all(c == cats[0] for c in cats)
    for sid, a in joint.adatas.items():
        assert a.uns["domain"]["cohort"] == {"id": joint.cohort_id, "sample_id": sid,
                                            "samples": list(joint.adatas)}
        assert a.uns["domain"]["params"]["batch_key"] == "sample_id"
        assert a.obs["domain_confidence"].between(0, 1).all()
        assert a.obsm["X_domain"].shape[0] == a.n_obs
    props = joint.proportions
    assert list(props.index) == list(joint.adatas)
    dom = props[[c for c in props.columns if c.startswith("domain_")]]
    np.testing.assert_allclose(dom.sum(1), 1.0)
    assert {"group", "gene"} <= set(joint.markers.columns)
    assert set(joint.markers["group"].astype(str)) == set(cats[0])
    # the planted marker genes of the layers come out on top of every domain
    top = joint.markers.groupby("group", observed=True).head(3)
    assert top["gene"].str.startswith("MK").all()


def test_map_new_slide_onto_cohort(joint):
    new = synthetic_cohort(4, n_spots=300, n_genes=120, seed=0)["slide4"]
    ref = _layer_to_domain(next(iter(joint.adatas.values())))
    joint.model.transform(new)
    labels = joint.model.get_labels().astype(str)
    new.obs["mapped"] = pd.Categorical(labels)
    got = _layer_to_domain(new, "mapped")
    assert sum(got[k] == v for k, v in ref.items()) >= 4, (got, ref)  # the same ids
    assert adjusted_rand_score(new.obs["truth"], labels) > 0.5


def test_plot_proportions(joint, tmp_path):
    from napari_scdl.tl.cohort import plot_proportions

    fig = plot_proportions(joint.proportions, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert len(fig.axes[0].patches) == 3 * 5


def test_errors_name_the_problem(slides):
    from napari_scdl.cohort import read_manifest
    from napari_scdl.tl import cohort_domains

    with pytest.raises(ScdlError, match="at least 2 slides"):
        cohort_domains([next(iter(slides.values()))])
    with pytest.raises(ScdlError, match="unique"):
        cohort_domains(list(slides.values())[:2], sample_ids=["a", "a"])
    with pytest.raises(ScdlError, match="column 'path' is missing"):
        read_manifest(pd.DataFrame({"sample_id": ["a", "b"]}))
    with pytest.raises(ScdlError, match="repeated"):
        read_manifest(pd.DataFrame({"sample_id": ["a", "a"], "path": ["x", "y"]}))


@pytest.fixture
def manifest(tmp_path, slides):
    rows = []
    for i, (sid, a) in enumerate(slides.items()):
        a.write_h5ad(tmp_path / f"{sid}.h5ad")
        rows.append({"sample_id": sid, "path": f"{sid}.h5ad", "donor": f"D{i % 2}"})
    rows.append({"sample_id": "broken", "path": "nowhere.h5ad", "donor": "D9"})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_local_cluster_two_workers_failure_and_resume(manifest, tmp_path):
    """2 dask workers; a slide that cannot be read is retried, reported, and the others
    finish; a rerun after losing an output rewrites only that one (nothing retrained)."""
    from napari_scdl.cohort import run_cohort

    out = tmp_path / "out"
    events = []
    opts = dict(n_domains=5, out_dir=out, workers=2, processes=False, use_histology=False,
                on_event=lambda *e: events.append(e), **FAST)
    run = run_cohort(manifest, **opts)
    assert run.status == {"slide1": "done", "slide2": "done", "slide3": "done",
                          "broken": "failed"}
    assert "nowhere.h5ad" in run.errors["broken"] and run.trained
    summary = pd.read_csv(out / "cohort_summary.csv", index_col=0)
    assert list(summary["donor"]) == ["D0", "D1", "D0", "D9"]
    assert list(summary["status"]) == ["done", "done", "done", "failed"]
    assert (out / "cohort_markers.csv").exists() and (out / "cohort_proportions.png").exists()
    marker = json.loads((out / ".cohort" / "slide1.done.json").read_text())
    assert marker["cohort_id"] == run.cohort_id
    import anndata as ad

    a1 = ad.read_h5ad(out / "slide1.h5ad")
    assert a1.uns["domain"]["cohort"]["id"] == run.cohort_id
    mtimes = {s: (out / f"{s}.h5ad").stat().st_mtime_ns for s in ("slide1", "slide3")}
    # "crash": slide2's output is lost; the rerun resumes
    (out / "slide2.h5ad").unlink()
    events.clear()
    rerun = run_cohort(manifest, **opts)
    assert not rerun.trained
    assert rerun.status["slide1"] == rerun.status["slide3"] == "skipped"
    assert rerun.status["slide2"] == "done"
    assert {s: (out / f"{s}.h5ad").stat().st_mtime_ns for s in mtimes} == mtimes
    assert any(e[0] == "slide2" and "earlier run" in e[2] for e in events)  # not re-read
    b1 = ad.read_h5ad(out / "slide2.h5ad")
    assert b1.uns["domain"]["cohort"]["id"] == run.cohort_id


def test_block_graph_has_no_edges_between_slides(slides):
    from napari_scdl.cohort._batch import batch_indices, block_graph, centre_per_batch
    from napari_scdl.errors import ModelSetupError
    from napari_scdl.tl.cohort import joint_adata

    joint = joint_adata(dict(list(slides.items())[:2]))
    batches = batch_indices(joint, "sample_id")
    assert [b[0] for b in batches] == ["slide1", "slide2"]
    g = block_graph(joint, batches, n_neighbors=6).tocoo()
    sid = joint.obs["sample_id"].to_numpy()
    assert g.nnz > 0 and (sid[g.row] == sid[g.col]).all()
    L = centre_per_batch(joint.X, batches)
    for _, idx in batches:
        np.testing.assert_allclose(L[idx].mean(0), 0, atol=1e-4)
    with pytest.raises(ModelSetupError, match="not a column"):
        batch_indices(joint, "donor")
