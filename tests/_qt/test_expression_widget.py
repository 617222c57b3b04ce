"""The "Genes & markers" dock widget: type a gene, find markers, click a row, export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt
from scipy.stats import spearmanr

from napari_scdl.tl.expression import gene_values

LEFT = Qt.MouseButton.LeftButton
WAIT = 60_000


@pytest.fixture
def viewer_and_widget(make_napari_viewer, small_adata):
    from napari_scdl._qt.genes.widget import ExpressionWidget
    from napari_scdl._qt.launch import add_sample

    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    widget = ExpressionWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    return viewer, widget


def _gene_layer(viewer):
    layers = [ly for ly in viewer.layers if ly.metadata.get("key") == "gene expression"]
    assert len(layers) == 1, [ly.name for ly in viewer.layers]
    return layers[0]


def _on_gpu(viewer, layer) -> np.ndarray:
    """The colours the canvas draws (the marker visual's vertex data)."""
    node = viewer.window._qt_viewer.canvas.layer_to_visual[layer].node.points_markers
    return np.asarray(node._data["a_bg_color"])


def _type_gene(qtbot, widget, text):
    """Type ``text`` and press Enter (the completion list may be open, as for a person)."""
    widget.gene_box.clear()
    widget.gene_box.setFocus()
    qtbot.keyClicks(widget.gene_box, text)
    popup = widget.completer.popup()
    qtbot.keyClick(popup if popup.isVisible() else widget.gene_box, Qt.Key.Key_Return)
    qtbot.wait(20)  # the paint runs right after the key press is handled


def test_typing_a_gene_paints_it(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    adata = widget.sample.adata
    assert widget.completer.model().rowCount() == adata.n_vars
    _type_gene(qtbot, widget, "mk1_0")  # lower case, as people type
    layer = _gene_layer(viewer)
    expr = gene_values(adata, "MK1_0")
    # viridis gets greener with the value: colours follow the expression spot by spot
    assert spearmanr(layer.face_color[:, 1], expr).statistic > 0.95
    np.testing.assert_allclose(_on_gpu(viewer, layer), layer.face_color)
    assert widget.colorbar.label == "MK1_0"
    assert "MK1_0" in widget.status.text()
    before = layer.face_color.copy()

    _type_gene(qtbot, widget, "MK3_1")
    assert _gene_layer(viewer) is layer  # the same layer, repainted
    assert not np.allclose(layer.face_color, before)
    assert spearmanr(layer.face_color[:, 1], gene_values(adata, "MK3_1")).statistic > 0.95

    lo, hi = widget.contrast.value()
    widget.contrast.setValue((lo, lo + 0.25 * (hi - lo)))  # brighter: more spots saturate
    assert (layer.face_color[:, 1] > 0.85).sum() > (before[:, 1] > 0.85).sum()
    widget.cmap.setCurrentText("magma")
    assert layer.metadata["cmap"] == "magma"
    np.testing.assert_allclose(_on_gpu(viewer, layer), layer.face_color)


def test_pick_from_completion_list(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    adata = widget.sample.adata
    widget.gene_box.setFocus()
    qtbot.keyClicks(widget.gene_box, "mk2_")
    popup = widget.completer.popup()
    assert popup.isVisible() and widget.completer.completionCount() == 7
    qtbot.keyClick(popup, Qt.Key.Key_Down)  # arrow down to the first proposal, Enter
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: widget.label == "MK2_0", timeout=5000)
    assert (
        spearmanr(_gene_layer(viewer).face_color[:, 1], gene_values(adata, "MK2_0")).statistic
        > 0.95
    )

    qtbot.keyClicks(widget.gene_box, ", mk3_")  # a second gene: completes after the comma
    assert popup.isVisible()
    index = popup.model().index(1, 0)
    qtbot.mouseClick(popup.viewport(), LEFT, pos=popup.visualRect(index).center())
    qtbot.waitUntil(lambda: widget.label.startswith("mean of"), timeout=5000)
    assert widget.gene_box.text() == "MK2_0, MK3_1"
    np.testing.assert_allclose(widget.values, gene_values(adata, ["MK2_0", "MK3_1"]), rtol=1e-6)


def test_unknown_gene_says_so(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    _type_gene(qtbot, widget, "MK1_O")  # letter O, not zero
    assert "not found" in widget.status.text() and "did you mean MK1_" in widget.status.text()
    assert not [ly for ly in viewer.layers if ly.metadata.get("key") == "gene expression"]


def test_meta_gene_and_imputed_values(qtbot, viewer_and_widget):
    viewer, widget = viewer_and_widget
    adata = widget.sample.adata
    _type_gene(qtbot, widget, "MK1_0, MK1_1,MK1_2")
    expected = gene_values(adata, ["MK1_0", "MK1_1", "MK1_2"], agg="mean")
    np.testing.assert_allclose(widget.values, expected, rtol=1e-6)
    assert widget.label.startswith("mean of")
    widget.agg.setCurrentText("sum")
    np.testing.assert_allclose(widget.values, 3 * expected, rtol=1e-5)

    rng = np.random.default_rng(0)
    adata.layers["toy_imputed"] = rng.random(adata.shape).astype(np.float32)
    widget.source.refresh()
    assert widget.source.findText("toy_imputed") >= 0
    widget.agg.setCurrentText("mean")
    widget.source.setCurrentText("toy_imputed")
    np.testing.assert_allclose(widget.values, adata.layers["toy_imputed"][:, :3].mean(1), rtol=1e-5)


def test_marker_table_click_paints_gene(qtbot, viewer_and_widget, tmp_path):
    viewer, widget = viewer_and_widget
    panel = widget.markers
    panel.groupby.refresh()
    panel.groupby.setCurrentText("truth")
    qtbot.mouseClick(panel.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not panel.runner.running, timeout=WAIT)
    adata = widget.sample.adata
    assert adata.uns["markers"]["params"]["groupby"] == "truth"
    n_groups = adata.obs["truth"].nunique()
    shown = panel.shown()  # top 10 of each group by default, p adj <= 0.05, log2FC >= 0.25
    assert panel.proxy.rowCount() == len(shown) > n_groups
    assert shown.groupby("group").size().max() <= 10
    panel.top_n.setValue(3)
    assert panel.proxy.rowCount() == 3 * n_groups
    panel.top_n.setValue(10)
    assert (shown["pval_adj"] <= 0.05).all() and (shown["log2fc"] >= 0.25).all()

    panel.group.setCurrentText("Layer2")
    assert set(panel.shown()["group"]) == {"Layer2"}
    panel.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # log2fc, numerically
    shown = panel.shown()
    assert panel.gene_at(0) == shown.loc[shown["log2fc"].idxmax(), "gene"]

    index = panel.proxy.index(1, 1)
    qtbot.mouseClick(panel.view.viewport(), LEFT, pos=panel.view.visualRect(index).center())
    gene = panel.gene_at(1)
    assert widget.gene_box.text() == gene
    layer = _gene_layer(viewer)
    assert spearmanr(layer.face_color[:, 1], gene_values(adata, gene)).statistic > 0.95
    # the violins show every group; a Layer2 marker is highest in Layer2
    assert widget.plot.groups == [str(c) for c in adata.obs["truth"].cat.categories]
    assert len(widget.plot.ax.collections) >= n_groups
    means = pd.Series(widget.values).groupby(adata.obs["truth"].to_numpy()).mean()
    assert means.idxmax() == "Layer2"

    panel.padj.setValue(1e-4)
    panel.lfc.setValue(1.0)
    out = tmp_path / "markers.csv"
    panel.export_csv(out)
    table = pd.read_csv(out)
    assert list(table.columns[:6]) == ["group", "gene", "log2fc", "pct_in", "pct_out", "score"]
    assert len(table) == panel.proxy.rowCount() > 0
    assert (table["pval_adj"] <= 1e-4).all() and (table["log2fc"] >= 1.0).all()


@pytest.mark.slow
def test_export_figure_button_path(qtbot, viewer_and_widget, tmp_path):
    from PIL import Image

    _, widget = viewer_and_widget
    _type_gene(qtbot, widget, "MK2_0")
    out = widget.export_figure(tmp_path / "fig.png", dpi=60, width_in=4)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] > 4 * 60 and img.std() > 20
