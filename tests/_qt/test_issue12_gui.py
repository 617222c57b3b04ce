"""Issue 12 (part 3): what a pathologist saw wrong in each dock panel, checked on screen."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QDockWidget, QScrollArea, QTabBar

from napari_scdl._qt.launch import add_sample

LEFT = Qt.MouseButton.LeftButton
PANELS = ["Spatial domains", "Annotate", "Learn & review", "Genes & markers", "Models",
          "Compare results"]


def _image_free(adata):
    adata = adata.copy()
    adata.uns.pop("spatial", None)
    return adata


def _stub_domains(adata, key="domain", warnings=()):
    rng = np.random.default_rng(0)
    adata.obs[key] = pd.Categorical(adata.obs["truth"].astype(str))
    adata.obs[f"{key}_confidence"] = rng.uniform(0.3, 1.0, adata.n_obs)
    adata.uns[key] = {"params": {}, "warnings": list(warnings)}


# -- 1. compare: the disagreement map is visible --------------------------------------------------
def test_disagreement_is_visible_from_the_plugin_menu(make_napari_viewer, small_adata):
    """Docked through the Plugins menu, the widget holds a proxy viewer: the new layer
    used to be hidden by its own "hide the others" loop."""
    adata = small_adata
    noisy = adata.obs["truth"].astype(str).to_numpy().copy()
    noisy[::7] = noisy[1]
    adata.obs["noisy"] = pd.Categorical(noisy)
    viewer = make_napari_viewer()
    add_sample(viewer, adata)
    _, w = viewer.window.add_plugin_dock_widget("napari-scdl", "Compare results")
    for i in range(w.results.count()):
        if w.results.item(i).text() in ("truth", "noisy"):
            w.results.item(i).setCheckState(Qt.CheckState.Checked)
    qtbot_click(w.side_button)
    panels = [ly for ly in viewer.layers if "panel" in ly.name and ly.metadata.get("key")]
    assert len(panels) == 2 and all(ly.visible for ly in panels)
    qtbot_click(w.disagree_button)
    dis = next(ly for ly in viewer.layers if "disagreement" in ly.name)
    assert dis.visible
    assert viewer.layers.selection.active is dis
    assert "spots" in w.summary.text() and "failed" not in w.summary.text()
    # panel 2 still shows; the panel-1 copy at the same place gives way to the map
    assert panels[1].visible


def qtbot_click(button):
    button.click()
    QApplication.processEvents()


# -- 3. accept: calibrated default and the count said first ---------------------------------------
def test_accept_defaults_to_a_confident_threshold_and_says_how_many(
    qtbot, make_napari_viewer, monkeypatch, tmp_path, small_adata
):
    from napari_scdl._qt.review.widget import CONF, KEY, MIN_CONFIDENCE, ReviewWidget
    from napari_scdl.annotations import AnnotationStore

    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))
    adata = small_adata
    store = AnnotationStore.for_adata(adata)
    store.create_column("pathology")
    store.set_labels("pathology", adata.obs["truth"].iloc[:30].astype(str))
    viewer = make_napari_viewer()
    add_sample(viewer, adata)
    w = ReviewWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    assert MIN_CONFIDENCE >= 0.8 and w.min_conf.value() == pytest.approx(MIN_CONFIDENCE)
    assert not w.accept_button.isEnabled()  # nothing predicted yet
    conf = np.linspace(0.3, 1.0, adata.n_obs)
    adata.obs[KEY] = pd.Categorical(adata.obs["truth"].astype(str))
    adata.obs[CONF] = conf
    w.show_prediction()
    expected = int(((conf >= 0.8) & adata.obs["pathology"].isna().to_numpy()).sum())
    assert w.accept_button.text() == f"Accept {expected} spots into annotation"
    assert f"{expected} of {adata.n_obs} spots" in w.accept_note.text()
    w.min_conf.setValue(0.95)
    fewer = int(((conf >= 0.95) & adata.obs["pathology"].isna().to_numpy()).sum())
    assert w.accept_button.text() == f"Accept {fewer} spots into annotation" and fewer < expected
    qtbot.mouseClick(w.accept_button, LEFT)
    assert int(store.labels("pathology").notna().sum()) == 30 + fewer
    assert w.accept_button.text() == "Accept 0 spots into annotation"
    assert not w.accept_button.isEnabled()


# -- 4. the six panels fit a 1280x800 screen; tab titles read right -------------------------------
def test_all_panels_fit_a_small_screen(qtbot, make_napari_viewer, small_adata):
    viewer = make_napari_viewer(show=True)
    add_sample(viewer, small_adata)
    win = viewer.window._qt_window
    win.resize(1280, 800)
    first = None
    for name in PANELS:
        d, _ = viewer.window.add_plugin_dock_widget("napari-scdl", name, tabify=first is not None)
        first = first or d
    first.raise_()
    for _ in range(5):
        QApplication.processEvents()
        qtbot.wait(20)
    geo = win.frameGeometry()
    assert geo.width() <= 1280 and geo.height() <= 800, geo
    # the domain settings keep their natural height (they scroll instead of being squashed)
    panel = next(w for w in win.findChildren(QDockWidget) if "Spatial domains" in w.windowTitle())
    form = next(c for c in panel.findChildren(object) if type(c).__name__ == "DomainsWidget").form
    assert form.native.height() >= form.native.minimumSizeHint().height()
    assert panel.findChild(QScrollArea) is not None
    # "&" in titles is shown as "&", not as a shortcut mark
    titles = [w.windowTitle() for w in win.findChildren(QDockWidget)]
    assert any(t.startswith("Learn && review") for t in titles), titles
    tabs = [bar.tabText(i) for bar in win.findChildren(QTabBar) for i in range(bar.count())]
    assert any(t.startswith("Genes && markers") for t in tabs), tabs
    assert all(bar.elideMode() == Qt.TextElideMode.ElideNone for bar in win.findChildren(QTabBar)
               if bar.count())


# -- 5. an old error pop-up goes once a later run succeeds ----------------------------------------
def test_error_popup_closes_after_a_successful_run(qtbot, make_napari_viewer):
    from napari_scdl._qt.common.runner import Runner, error_popups, report_error
    from napari_scdl.errors import ScdlError
    from napari_scdl.models import Progress

    viewer = make_napari_viewer(show=True)
    runner = Runner("Go")
    viewer.window.add_dock_widget(runner, area="right")
    report_error(ScdlError("set n_domains first"), "domains")
    qtbot.waitUntil(lambda: len(error_popups()) == 1, timeout=5000)
    assert error_popups()[0].isVisible()
    done = []

    def work():
        yield Progress(1, 1, "ok")

    runner.start(work, lambda: done.append(1))
    qtbot.waitUntil(lambda: not runner.running, timeout=10_000)
    assert done == [1]
    assert error_popups() == []


# -- 6. autosave leftovers of killed saves are removed on the next open ---------------------------
def test_stale_autosave_temps_removed_on_open(make_napari_viewer, monkeypatch, tmp_path,
                                              small_adata):
    from napari_scdl._qt.annotate.widget import AnnotationWidget
    from napari_scdl.annotations import _autosave as _as

    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))
    sid, src = _as.sample_identity(small_adata)
    path = _as.choose_path(sid, src)
    stale = [path.parent / f".{path.name}.{i}abc.tmp" for i in range(11)]
    for p in stale:
        p.write_text('{"format": "napari-scdl-ann')  # a save killed half-way
        os.utime(p, (time.time() - 60, time.time() - 60))
    fresh = path.parent / f".{path.name}.live.tmp"  # another process saving right now
    fresh.write_text("{")
    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    w = AnnotationWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    assert not any(p.exists() for p in stale)
    assert fresh.exists()


# -- 7. smaller items ----------------------------------------------------------------------------------
def test_confidence_layer_has_a_colorbar(qtbot, make_napari_viewer, small_adata):
    from napari_scdl._qt.domains.widget import DomainsWidget

    _stub_domains(small_adata)
    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    w = DomainsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    assert not w.colorbar.isVisibleTo(w)
    qtbot.mouseClick(w.conf_layer, LEFT)
    assert w.colorbar.isVisibleTo(w) and w.colorbar.label == "domain confidence"
    assert any(ly.metadata.get("key") == "domain_confidence" and ly.visible for ly in viewer.layers)


def test_marker_table_shows_a_page_of_rows(make_napari_viewer, small_adata):
    from napari_scdl._qt.genes.widget import ExpressionWidget

    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    w = ExpressionWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    from qtpy.QtWidgets import QTableView

    view = max(w.findChildren(QTableView), key=lambda v: v.minimumHeight())
    rows = (view.minimumHeight() - view.horizontalHeader().sizeHint().height()) \
        // view.verticalHeader().defaultSectionSize()
    assert rows >= 10


def test_use_histology_is_off_and_explained_without_an_image(make_napari_viewer, small_adata):
    from napari_scdl._qt.domains.widget import DomainsWidget

    viewer = make_napari_viewer()
    add_sample(viewer, _image_free(small_adata))
    add_sample(viewer, small_adata)
    w = DomainsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    names = [w.sample.itemText(i) for i in range(w.sample.count())]
    assert len(names) == 2
    for i in range(2):
        w.sample.setCurrentIndex(i)
        has_image = "spatial" in w.sample.adata.uns
        assert w.form.use_histology.enabled is has_image
        assert w.form.use_histology.value is has_image
        assert w.histology_note.isVisibleTo(w) is (not has_image)
        if not has_image:
            assert "no tissue image" in w.histology_note.text()


def test_cancel_while_starting_frees_the_panel_within_a_second(qtbot, make_napari_viewer):
    """Cancel during "starting…" (a model's setup, which cannot be interrupted) took ~6 s."""
    from napari_scdl._qt.common.runner import Runner
    from napari_scdl.models import Progress

    viewer = make_napari_viewer()
    runner = Runner("Go")
    viewer.window.add_dock_widget(runner, area="right")
    done, reached = [], []

    def work():  # "setup": 3 s of work before the first step
        time.sleep(3.0)
        reached.append("after setup")
        yield Progress(1, 2, "epoch 1")
        reached.append("epoch 2")
        yield Progress(2, 2, "epoch 2")

    runner.start(work, lambda: done.append(1))
    qtbot.wait(200)
    assert runner.status.text() == "starting…"
    t0 = time.perf_counter()
    qtbot.mouseClick(runner.cancel_button, LEFT)
    qtbot.waitUntil(lambda: runner.run_button.isEnabled(), timeout=1000)
    assert time.perf_counter() - t0 <= 1.0
    assert "cancelled" in runner.status.text() and not runner.running
    qtbot.waitUntil(lambda: not Runner._abandoned, timeout=10_000)  # stops after "setup"
    assert done == [] and "epoch 2" not in reached
    assert "cancelled" in runner.status.text()


def test_run_warnings_are_shown_in_the_panel(make_napari_viewer, small_adata):
    from napari_scdl._qt.domains.widget import DomainsWidget

    msg = "n_top_genes=3000 is above the 148 detected genes; all detected genes are used"
    _stub_domains(small_adata, warnings=[msg])
    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    w = DomainsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    w.show_result()
    assert w.warnings.isVisibleTo(w) and msg in w.warnings.text()
    small_adata.uns["domain"]["warnings"] = []
    w.show_result()
    assert not w.warnings.isVisibleTo(w)


def test_models_panel_shows_run_warnings(make_napari_viewer, small_adata):
    from napari_scdl._qt.common.runner import show_warnings
    from napari_scdl._qt.models.widget import ModelsWidget

    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    w = ModelsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    small_adata.uns["vae"] = {"warnings": ["seurat_v3 HVG selection failed; fell back"]}
    assert show_warnings(w.warnings, small_adata, "vae") == [
        "seurat_v3 HVG selection failed; fell back"]
    assert w.warnings.isVisibleTo(w) and "fell back" in w.warnings.text()


def test_image_free_sample_fits_the_view(qtbot, small_adata):
    from napari_scdl._qt.launch import open_viewer

    viewer = open_viewer(adata=_image_free(small_adata), show=True)
    try:
        for _ in range(5):  # the launcher fits the view once the docks took their room
            QApplication.processEvents()
            qtbot.wait(20)
        spots = next(ly for ly in viewer.layers if ly.metadata.get("scdl_role") == "spots")
        data = np.asarray(spots.data)
        r = float(np.max(spots.size)) / 2
        lo, hi = data.min(0) - r, data.max(0) + r
        h, w = viewer.window._qt_viewer.canvas.size  # (height, width) in screen px
        cy, cx = viewer.camera.center[-2:]
        half = np.array([h, w]) / 2 / viewer.camera.zoom
        assert np.all(lo >= np.array([cy, cx]) - half - 1e-6), (lo, cy, cx, half)
        assert np.all(hi <= np.array([cy, cx]) + half + 1e-6), (hi, cy, cx, half)
    finally:
        viewer.close()
