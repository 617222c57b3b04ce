"""The Cohort panel, driven as a person would: two open slides, one labelling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt

from napari_scdl._qt.cohort import CohortWidget
from napari_scdl._qt.common.result_layers import show_values
from napari_scdl._qt.launch import add_sample
from napari_scdl.cohort._synthetic import synthetic_cohort


def test_cohort_panel_runs_and_shows_one_legend(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    slides = synthetic_cohort(2, n_spots=250, n_genes=100, image=True)
    for a in slides.values():
        add_sample(viewer, a)
    w = CohortWidget(viewer)
    qtbot.addWidget(w)
    assert w.slides.count() == 2
    assert list(w.manifest()["sample_id"]) == ["slide1", "slide2"]
    w.save_manifest(tmp_path / "m.csv")
    assert list(pd.read_csv(tmp_path / "m.csv").columns) == ["sample_id", "path"]

    # a gene shown on slide 2 before the run (what the Genes panel makes)
    spots2 = next(ly for ly in viewer.layers if ly.name == "slide2 spots")
    gene, _ = show_values(viewer, spots2, np.arange(spots2.data.shape[0], dtype=float), "gene")

    w.opts.n_domains.value = 4
    w.opts.epochs.value = 30
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.runner.running, timeout=120_000)
    for a in slides.values():
        assert a.obs["domain"].cat.categories.tolist() == ["0", "1", "2", "3"]
        assert "cohort" in a.uns["domain"]
    results = [ly for ly in viewer.layers if ly.metadata.get("key") == "domain"]
    assert len(results) == 2
    # the same domain has the same colour on both slides
    colour = {}
    for ly in results:
        labels = ly.metadata["adata"].obs["domain"].astype(str).to_numpy()
        for d in np.unique(labels):
            c = tuple(np.round(ly.face_color[labels == d][0], 3))
            assert colour.setdefault(d, c) == c
    # side by side: the second slide is to the right of the first
    x0 = [ly.extent.world[:, 1] for ly in results]
    assert x0[1][0] > x0[0][1]
    # every layer of slide 2 moved with it: the gene layer still lies on its spots
    assert np.allclose(gene.extent.world, results[1].extent.world)
    assert np.allclose(gene.translate, spots2.translate)
    # a second run leaves the slides where they are
    before = {ly.name: np.asarray(ly.translate).copy() for ly in viewer.layers}
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.runner.running, timeout=120_000)
    assert {ly.name for ly in viewer.layers} == set(before)
    for ly in viewer.layers:
        assert np.allclose(ly.translate, before[ly.name]), ly.name
    rows = w.legend.rows()
    assert len(rows) == 4 and sum(n for _, n in rows) == 500
    assert "2 slides" in w.summary.text()
    assert len(w.plot.figure.axes[0].patches) == 2 * 4


def test_cohort_panel_needs_two_slides(make_napari_viewer, qtbot, monkeypatch):
    import napari_scdl._qt.cohort.widget as mod

    shown = []
    monkeypatch.setattr(mod, "report_error", lambda err, where="": shown.append(str(err)))
    viewer = make_napari_viewer()
    add_sample(viewer, synthetic_cohort(1, n_spots=100, n_genes=60)["slide1"])
    w = CohortWidget(viewer)
    qtbot.addWidget(w)
    w.run()
    assert not w.runner.running
    assert shown and "at least 2" in shown[0]


def _open_two(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    slides = synthetic_cohort(2, n_spots=200, n_genes=80, image=True)
    for a in slides.values():
        add_sample(viewer, a)
    w = CohortWidget(viewer)
    qtbot.addWidget(w)
    return viewer, slides, w


def test_cohort_panel_runs_on_a_dask_local_cluster(make_napari_viewer, qtbot, tmp_path):
    """Run on: dask local cluster. Per-slide states in the table, the GUI keeps
    responding, outputs in the chosen folder, results on the open slides. (About 25 s: one
    real worker process, as the panel's default, which imports the plugin and torch.)"""
    from qtpy.QtCore import QTimer

    viewer, slides, w = _open_two(make_napari_viewer, qtbot)
    w.opts.run_on.value = "dask: local cluster"
    hidden = {n: getattr(w.opts, n).native.isHidden() for n in ("workers", "out_dir", "scheduler")}
    assert hidden == {"workers": False, "out_dir": False, "scheduler": True}
    w.opts.workers.value = 1
    w.opts.out_dir.value = str(tmp_path / "out")
    w.opts.n_domains.value = 4
    w.opts.epochs.value = 20
    w.opts.correction.value = "harmony"
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(50)
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    assert w.runner.running and set(w.slide_states().values()) == {"waiting"}
    qtbot.waitUntil(lambda: not w.runner.running, timeout=180_000)
    timer.stop()
    assert w.slide_states() == {"slide1": "done", "slide2": "done"}, w.runner.status.text()
    assert ("slide1", "prepared") in w.slide_events and ("cohort", "trained") in w.slide_events
    assert len(ticks) > 20  # the event loop kept running all along (no freeze)
    for sid, a in slides.items():
        assert (tmp_path / "out" / f"{sid}.h5ad").exists()
        assert (tmp_path / "out" / f"{sid}_domains.png").exists()
        assert a.obs["domain"].cat.categories.tolist() == ["0", "1", "2", "3"]
        assert a.uns["domain"]["params"]["correction"] == "harmony"
    assert (tmp_path / "out" / "cohort_proportions.png").exists()
    assert len([ly for ly in viewer.layers if ly.metadata.get("key") == "domain"]) == 2
    assert len(w.legend.rows()) == 4
    assert str(tmp_path / "out") in w.summary.text()


def test_cohort_panel_dask_cancel_and_scheduler_check(make_napari_viewer, qtbot, tmp_path,
                                                      monkeypatch):
    import threading

    import napari_scdl._qt.cohort.widget as mod

    shown = []
    monkeypatch.setattr(mod, "report_error", lambda err, where="": shown.append(str(err)))
    viewer, slides, w = _open_two(make_napari_viewer, qtbot)
    w.opts.run_on.value = "dask: scheduler"
    w.run()
    assert shown and "scheduler" in shown[0] and not w.runner.running
    w.opts.run_on.value = "dask: local cluster"
    w.processes = False
    w.opts.out_dir.value = str(tmp_path / "out")
    w.opts.epochs.value = 2000
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "prepared" in w.slide_states().values(), timeout=60_000)
    qtbot.mouseClick(w.runner.cancel_button, Qt.MouseButton.LeftButton)
    assert not w.runner.running and w.runner.run_button.isEnabled()
    assert "cancelled" in w.runner.status.text()
    qtbot.waitUntil(lambda: not any(t.name == "napari-scdl-cohort"
                                    for t in threading.enumerate()), timeout=60_000)
    assert all("domain" not in a.obs for a in slides.values())
    assert not (tmp_path / "out" / "slide1.h5ad").exists()
