"""The domains dock widget, driven as a person would."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from sklearn.metrics import adjusted_rand_score

from napari_scdl._qt.domains.widget import DomainsWidget
from napari_scdl._qt.launch import add_sample


@pytest.fixture
def viewer_with_sample(make_napari_viewer, small_adata):
    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    return viewer, small_adata


def _run(qtbot, w):
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.runner.running, timeout=120_000)


def test_find_domains_colours_spots_and_fills_legend(qtbot, viewer_with_sample):
    viewer, adata = viewer_with_sample
    w = DomainsWidget(viewer)
    qtbot.addWidget(w)
    w.form.n_domains.value = 4
    w.form.epochs.value = min(w.form.epochs.value, 150)
    _run(qtbot, w)
    assert "domain" in adata.obs and "domain_confidence" in adata.obs
    assert adatas_ari(adata) > 0.5
    result = [ly for ly in viewer.layers if ly.metadata.get("key") == "domain"]
    assert len(result) == 1
    colours = np.unique(np.round(result[0].face_color, 3), axis=0)
    assert len(colours) == adata.obs["domain"].nunique() == 4
    rows = w.legend.rows()
    assert len(rows) == 4 and sum(n for _, n in rows) == adata.n_obs
    assert "4 domains on 600 spots" in w.summary.text()
    assert "kept network" in w.summary.text() and "of 3" in w.summary.text()

    # running again replaces, not duplicates, the result layer
    w.run_opts.seed.value = 1
    _run(qtbot, w)
    assert len([ly for ly in viewer.layers if ly.metadata.get("key") == "domain"]) == 1

    # confidence as opacity changes alphas; a confidence layer can be added
    w.conf_opacity.setChecked(True)
    alphas = result[0].face_color[:, 3]
    assert alphas.min() < alphas.max()
    w.show_confidence_layer()
    assert any(ly.metadata.get("key") == "domain_confidence" for ly in viewer.layers)

    # side by side with the ground truth
    w.compare_with.value = "truth"
    qtbot.mouseClick(w.compare_button, Qt.MouseButton.LeftButton)
    panels = [ly for ly in viewer.layers if "panel" in ly.name and ly.metadata.get("key")]
    assert len(panels) == 2 and panels[1].translate[1] > panels[0].translate[1]


def adatas_ari(adata):
    return adjusted_rand_score(adata.obs["truth"], adata.obs["domain"])


def test_cancel_leaves_adata_unchanged(qtbot, viewer_with_sample):
    viewer, adata = viewer_with_sample
    w = DomainsWidget(viewer)
    qtbot.addWidget(w)
    w.form.epochs.value = 5000
    qtbot.mouseClick(w.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.runner.progress.value() > 1, timeout=60_000)
    qtbot.mouseClick(w.runner.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.runner.running, timeout=60_000)
    # the panel is free at once; the cancelled worker stops at its next step, writing nothing
    qtbot.waitUntil(lambda: not type(w.runner)._abandoned, timeout=60_000)
    assert "domain" not in adata.obs and "cancelled" in w.runner.status.text()


def test_no_sample_gives_a_message(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    w = DomainsWidget(viewer)
    qtbot.addWidget(w)
    w.run()
    assert not w.runner.running
