"""The "Compare results" dock widget: side by side, ARI/NMI table, disagreement map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    from napari_scdl._qt.compare.widget import CompareWidget
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.datasets import synthetic_visium

    adata = synthetic_visium(300, n_domains=3, n_genes=60, seed=0)
    truth = adata.obs["truth"].astype(str).to_numpy()
    # "renamed": the same partition under other names -> full agreement after matching
    names = {c: f"c{i}" for i, c in enumerate(sorted(set(truth))[::-1])}
    adata.obs["renamed"] = pd.Categorical([names[t] for t in truth])
    # "noisy": 30 spots moved to another domain
    noisy = truth.copy()
    cats = sorted(set(truth))
    moved = np.arange(0, 300, 10)
    for i in moved:
        noisy[i] = cats[(cats.index(noisy[i]) + 1) % len(cats)]
    adata.obs["noisy"] = pd.Categorical(noisy)
    viewer = make_napari_viewer()
    add_sample(viewer, adata)
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    return viewer, widget, moved


def _tick(widget, keys):
    for i in range(widget.results.count()):
        item = widget.results.item(i)
        if item.text() in keys:
            item.setCheckState(Qt.CheckState.Checked)


def test_side_by_side_and_table(viewer_and_widget, qtbot):
    from napari_scdl.tl import compare

    viewer, widget, _ = viewer_and_widget
    adata = widget.sample.adata
    listed = [widget.results.item(i).text() for i in range(widget.results.count())]
    assert {"truth", "renamed", "noisy"} <= set(listed)
    _tick(widget, ["truth", "noisy"])
    assert widget.checked() == ["truth", "noisy"]
    qtbot.mouseClick(widget.side_button, LEFT)
    panels = [ly for ly in viewer.layers if "panel" in ly.name and ly.metadata.get("key")]
    assert [ly.metadata["key"] for ly in panels] == ["truth", "noisy"]
    assert panels[1].translate[1] > panels[0].translate[1]  # next to each other
    for ly in panels:
        assert len(np.unique(np.asarray(ly.face_color), axis=0)) == 3
    (expected,) = compare(adata, ["truth", "noisy"]).itertuples(index=False)
    ((a, b, ari, nmi, matched),) = widget.table_rows()
    assert (a, b) == (expected.key_a, expected.key_b) == ("truth", "noisy")
    assert ari == pytest.approx(expected.ari, abs=1e-3)
    assert nmi == pytest.approx(expected.nmi, abs=1e-3)
    assert matched == pytest.approx(90.0)  # 30 of 300 spots moved
    assert 0.5 < ari < 1.0

    _tick(widget, ["renamed"])
    qtbot.mouseClick(widget.side_button, LEFT)
    rows = {(r[0], r[1]): r for r in widget.table_rows()}
    assert len(rows) == 3
    assert rows[("truth", "renamed")][2] == pytest.approx(1.0)  # same partition, other names


def test_disagreement_layer(viewer_and_widget, qtbot):
    from napari_scdl._qt.compare.widget import DISAGREE
    from napari_scdl.colors import _hex_to_rgba

    viewer, widget, moved = viewer_and_widget
    _tick(widget, ["renamed", "noisy"])
    qtbot.mouseClick(widget.side_button, LEFT)
    qtbot.mouseClick(widget.disagree_button, LEFT)
    layer = viewer.layers.selection.active
    assert layer.metadata["key"] == "renamed vs noisy"
    red = np.all(np.isclose(np.asarray(layer.face_color), _hex_to_rgba([DISAGREE])[0]), axis=1)
    # after matching "renamed" to "noisy", exactly the moved spots disagree
    np.testing.assert_array_equal(np.flatnonzero(red), moved)
    assert "30 of 300" in widget.summary.text()


def test_needs_two_results(viewer_and_widget, qtbot):
    viewer, widget, _ = viewer_and_widget
    n_layers = len(viewer.layers)
    _tick(widget, ["truth"])
    qtbot.mouseClick(widget.side_button, LEFT)
    assert "tick at least 2" in widget.summary.text()
    assert len(viewer.layers) == n_layers
