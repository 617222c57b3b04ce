"""The Annotate dock widget, driven as a pathologist would: draw, assign, undo, export, reopen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.path import Path as MplPath

from napari_scdl._qt.annotate.inspector import describe_spot, nearest_spot
from napari_scdl._qt.annotate.widget import AnnotationWidget
from napari_scdl._qt.launch import add_sample
from napari_scdl.layers import xy_to_rc


@pytest.fixture
def sample_file(tmp_path, monkeypatch, _small_adata):
    """A sample saved as .h5ad (so re-opening it gives the same sample id and source)."""
    from napari_scdl.io import write_h5ad

    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))
    return write_h5ad(_small_adata[:300].copy(), tmp_path / "sample.h5ad")


def _open(make_napari_viewer, path):
    from napari_scdl.io import read

    viewer = make_napari_viewer()
    adata = read(path)
    add_sample(viewer, adata)
    widget = AnnotationWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    return viewer, adata, widget


def _square(adata, half=260.0):
    c = adata.obsm["spatial"].mean(0)
    return np.array([c + [-half, -half], c + [half, -half], c + [half, half], c + [-half, half]])


def _inside(adata, poly) -> np.ndarray:
    return MplPath(poly).contains_points(adata.obsm["spatial"])


def test_draw_assign_undo_export_reopen(qtbot, make_napari_viewer, sample_file, tmp_path):
    viewer, adata, w = _open(make_napari_viewer, sample_file)
    w.new_column("pathology")
    w.add_category("Tumour")
    poly = _square(adata)
    inside = _inside(adata, poly)
    assert 5 < inside.sum() < adata.n_obs / 2

    # draw as a user would: a polygon in napari (row, col) coordinates on the shapes layer
    shapes = w.draw.shapes_layer()
    assert shapes.metadata["scdl_role"] == "annotation_shapes"
    shapes.add_polygons([xy_to_rc(poly)])
    qtbot.waitUntil(lambda: adata.obs["pathology"].notna().any(), timeout=5000)
    labelled = adata.obs["pathology"].notna().to_numpy()
    np.testing.assert_array_equal(labelled, inside)
    assert (adata.obs["pathology"][inside] == "Tumour").all()
    assert shapes.nshapes == 0  # the drawing is consumed; the polygon is kept in the store
    assert len(w.store.polygons("pathology")) == 1
    # the annotation layer shows it: Tumour colour inside, translucent grey outside
    layer = w.layer
    tumour = np.array(to_rgba(w.store.colors("pathology")["Tumour"]))
    np.testing.assert_allclose(
        layer.face_color[inside], np.tile(tumour, (inside.sum(), 1)), atol=1e-3
    )
    assert (layer.face_color[~inside, 3] < 0.5).all()
    assert w.categories.counts() == {"Tumour": int(inside.sum())}
    assert w.draw.assign_button.text() == "Assign to Tumour"

    # undo with Ctrl+Z on the canvas, redo with the button
    viewer.window._qt_viewer._key_map_handler.press_key("Control-Z")
    assert adata.obs["pathology"].isna().all()
    assert (layer.face_color[:, 3] < 0.5).all()
    w.redo_button.click()
    np.testing.assert_array_equal(adata.obs["pathology"].notna().to_numpy(), inside)
    np.testing.assert_allclose(
        layer.face_color[inside][:, :3], np.tile(tumour[:3], (inside.sum(), 1)), atol=1e-3
    )

    # export CSV (Loupe Browser format)
    out = w.files.export_file(tmp_path / "pathology.csv")
    csv = pd.read_csv(out)
    assert list(csv.columns) == ["Barcode", "pathology"]
    assert set(csv["Barcode"]) == set(adata.obs_names[inside])
    assert "autosaved" in w.files.status.text() or (w.files.update_status() or True)
    w.files.update_status()
    assert "autosaved" in w.files.status.text()
    saved = w.store.path
    assert saved.is_file() and saved.parent == sample_file.parent
    viewer.close()

    # reopen the same file in a new viewer: the annotation is back
    viewer2, adata2, w2 = _open(make_napari_viewer, sample_file)
    assert adata2 is not adata
    assert w2.column == "pathology"
    np.testing.assert_array_equal(adata2.obs["pathology"].notna().to_numpy(), inside)
    assert w2.layer is not None and w2.layer.visible
    np.testing.assert_allclose(
        w2.layer.face_color[inside][:, :3], np.tile(tumour[:3], (inside.sum(), 1)), atol=1e-3
    )
    assert "restored" in w2.status.text()


def test_category_edits_paint_and_import(qtbot, make_napari_viewer, sample_file, tmp_path):
    viewer, adata, w = _open(make_napari_viewer, sample_file)
    # start from a result: copy the (synthetic) truth into an editable column
    w.new_column("truth_reviewed", from_key="truth")
    cats = list(adata.obs["truth"].cat.categories)
    assert len(cats) >= 3 and w.categories.names() == cats
    np.testing.assert_array_equal(
        adata.obs["truth_reviewed"].astype(str), adata.obs["truth"].astype(str)
    )

    w.recolor_category(cats[0], "#00ff00")
    assert w.store.colors("truth_reviewed")[cats[0]] == "#00ff00"
    first = (adata.obs["truth"] == cats[0]).to_numpy()
    np.testing.assert_allclose(
        w.layer.face_color[first][:, :3], [[0, 1, 0]] * first.sum(), atol=1e-3
    )
    assert w.categories.color_of(cats[0]) == "#00ff00"

    w.rename_category(cats[1], "White matter")
    assert "White matter" in w.categories.names() and w.category == "White matter"
    n = w.merge_categories([cats[0], cats[2]], cats[0])
    assert n == int(adata.obs["truth"].isin([cats[0], cats[2]]).sum())
    assert (
        w.categories.names()[:2] == [cats[0], "White matter"]
        and cats[2] not in w.categories.names()
    )
    w.delete_category("White matter")
    assert adata.obs["truth_reviewed"].isna().sum() == (adata.obs["truth"] == cats[1]).sum()
    w.undo()
    assert "White matter" in w.categories.names()

    # paint: the brush stroke (press, move, release) is one undo step
    w.add_category("Tumour")
    w.draw.set_tool("paint")
    spots = w.sample.layer
    targets = [0, 5, 9]

    class Ev:
        def __init__(self, pos, type_):
            self.position, self.type = pos, type_

    ev = Ev(spots.data_to_world(spots.data[targets[0]]), "mouse_press")
    stroke = w.draw._brush(viewer, ev)
    next(stroke)
    for t in targets[1:]:
        ev.position, ev.type = spots.data_to_world(spots.data[t]), "mouse_move"
        next(stroke)
    ev.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(stroke)
    assert (adata.obs["truth_reviewed"].iloc[targets] == "Tumour").all()
    assert "paint" in w.store.undo_text
    w.undo()
    assert not (adata.obs["truth_reviewed"].iloc[targets] == "Tumour").any()
    w.draw.set_tool(None)
    assert viewer.camera.mouse_pan

    # import a CSV whose barcodes partly match: the report says how many matched
    csv = tmp_path / "loupe.csv"
    pd.DataFrame(
        {
            "Barcode": list(adata.obs_names[:10]) + ["AAAA-9", "CCCC-9"],
            "review": ["Tumour"] * 10 + ["Stroma"] * 2,
        }
    ).to_csv(csv, index=False)
    report = w.files.import_file(csv, column="review")
    assert report.n_matched == 10 and report.n_unmatched == 2
    assert "10 of 12" in w.status.text()
    assert w.column == "review" and w.store.unmatched("review") == {
        "AAAA-9": "Stroma",
        "CCCC-9": "Stroma",
    }


def test_spot_inspector(make_napari_viewer, sample_file):
    viewer, adata, w = _open(make_napari_viewer, sample_file)
    spots = w.sample.layer
    i = 7
    assert nearest_spot(spots, spots.data_to_world(spots.data[i])) == i
    far = np.asarray(spots.data).max(0) + 10 * spots.size.max()
    assert nearest_spot(spots, far) is None
    text = describe_spot(adata, i)
    assert adata.obs_names[i] in text and "top genes" in text and "total counts" in text
    w.inspector.show_spot(i)
    assert adata.obs_names[i] in w.inspector.label.text()
