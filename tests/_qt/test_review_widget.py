"""The Learn & review dock widget: predict from a partial annotation, accept, review queue."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_scdl._qt.launch import add_sample
from napari_scdl._qt.review.widget import CONF, KEY, ReviewWidget
from napari_scdl.annotations import AnnotationStore


@pytest.fixture
def partial(monkeypatch, tmp_path, small_adata):
    """The 600-spot sample with 10% of the spots labelled in an annotation column."""
    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))
    store = AnnotationStore.for_adata(small_adata)
    store.create_column("pathology")
    idx = np.random.default_rng(0).choice(small_adata.n_obs, 60, replace=False)
    store.set_labels("pathology", small_adata.obs["truth"].iloc[idx].astype(str))
    return small_adata, store


def test_predict_accept_suggest_and_label_with_a_key(qtbot, make_napari_viewer, partial):
    adata, store = partial
    viewer = make_napari_viewer()
    add_sample(viewer, adata)
    w = ReviewWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    assert w.store is store and w.column == "pathology"
    w.form.epochs.value = 40
    w.form.n_ensemble.value = 1
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.runner.running, timeout=120_000)
    assert KEY in adata.obs and CONF in adata.obs, w.runner.status.text()
    acc = (adata.obs[KEY].astype(str) == adata.obs["truth"].astype(str)).mean()
    assert acc > 0.7
    pred_layer = next(ly for ly in viewer.layers if ly.metadata.get("key") == KEY)
    # same colours as the annotation; opacity follows confidence
    colors = store.colors("pathology")
    assert adata.uns[f"{KEY}_colors"] == [colors[c] for c in adata.obs[KEY].cat.categories]
    conf = adata.obs[CONF].to_numpy()
    np.testing.assert_allclose(pred_layer.face_color[:, 3], 0.2 + 0.8 * conf, atol=1e-3)
    assert "predicted 600 spots" in w.summary.text()

    # active learning: suggestions are unlabelled spots; the view steps to each
    assert w.suggest() == 10
    q = w.queue
    queue_layer = q.layer()
    assert queue_layer is not None and len(queue_layer.data) == 10
    assert viewer.layers.selection.active is queue_layer
    first = q.index
    assert adata.obs["pathology"].isna().iloc[first]
    spots = w.sample.layer
    np.testing.assert_allclose(viewer.camera.center[-2:], spots.data_to_world(spots.data[first]))
    q.next_button.click()
    second = q.index
    assert second != first and q.pos == 1
    np.testing.assert_allclose(viewer.camera.center[-2:], spots.data_to_world(spots.data[second]))
    q.prev_button.click()
    assert q.index == first

    # one key press labels the spot (the queue layer's own key binding) and advances
    cats = store.categories("pathology")
    assert "<b>2</b> " + cats[1] in q.keys.text()
    viewer.window._qt_viewer._key_map_handler.press_key("2")
    assert adata.obs["pathology"].iloc[first] == cats[1]
    assert q.index == second
    # ... also as a real key press on the canvas
    viewer.window._qt_viewer.canvas.native.setFocus()
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_1)
    assert adata.obs["pathology"].iloc[second] == cats[0]
    assert set(q.reviewed()) == {first, second}
    assert store.undo_text.startswith("assign 1 spots")

    # retrain: the spots just labelled are now training labels
    w.form.epochs.value = 20
    qtbot.mouseClick(w.retrain_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.runner.running, timeout=120_000)
    assert {first, second} <= set(adata.uns[KEY]["labelled_index"].tolist())
    assert len(adata.uns[KEY]["labelled_index"]) == 62

    # explain a category: DE genes beside permutation-important genes
    w.explain.category.setCurrentText(cats[0])
    qtbot.mouseClick(w.explain.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.explain.runner.running, timeout=120_000)
    table = w.explain.table
    assert table.rowCount() >= 10, w.explain.runner.status.text()
    found = {table.item(i, 1).text() for i in range(table.rowCount())}
    assert found <= {"both", "DE", "classifier"}

    # accept the prediction into the annotation: only unlabelled spots, one undo step
    before = adata.obs["pathology"].copy()
    w.min_conf.setValue(0.0)  # every prediction (the default keeps the confident ones only)
    assert w.accept_button.text() == f"Accept {int(before.isna().sum())} spots into annotation"
    n = w.accept()
    assert n == int(before.isna().sum())
    after = adata.obs["pathology"]
    assert after.notna().all()
    kept = before.notna().to_numpy()
    np.testing.assert_array_equal(after[kept].astype(str), before[kept].astype(str))
    store.undo()
    assert adata.obs["pathology"].isna().sum() == before.isna().sum()


def test_predict_needs_two_categories(make_napari_viewer, monkeypatch, tmp_path, small_adata):
    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))
    store = AnnotationStore.for_adata(small_adata)
    store.create_column("review")
    store.assign("review", [0, 1, 2], "Tumour")
    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    w = ReviewWidget(viewer)
    w.predict()
    assert not w.runner.running
    assert "at least 2 categories" in w.status.text()
