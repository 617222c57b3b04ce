"""The "Tumour" dock widget: subclones in a region over the tissue, the tree, gene programs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tumour_fixtures import synthetic_tumour  # noqa: E402

LEFT = Qt.MouseButton.LeftButton
WAIT = 120_000


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.tumour import TumourWidget

    viewer = make_napari_viewer()
    add_sample(viewer, synthetic_tumour(300, n_genes=120, seed=0))
    widget = TumourWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    return viewer, widget


def test_subclones_in_a_category_painted_inside_only_and_tree_click(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    sec = widget.subclones
    adata = widget.sample.adata
    sec.set_region("annotation", ["tumour"])
    sec.form.epochs.value = 10
    sec.form.n_subclones.value = 3
    qtbot.mouseClick(sec.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not sec.runner.running, timeout=WAIT)

    inside = (adata.obs["annotation"] == "tumour").to_numpy()
    assert adata.obs["subclone"][inside].notna().all() and adata.obs["subclone"][~inside].isna().all()
    layer = sec.layer
    assert layer is not None and layer.visible and layer.metadata["key"] == "subclone"
    alpha = np.asarray(layer.face_color)[:, 3]
    assert (alpha[~inside] == 0).all() and (alpha[inside] == 1).all()  # only inside the region
    assert len(sec.tree.leaves) == 3 and "3 subclones" in sec.summary.text()
    # clicking a subclone in the tree highlights it: the others in the region are dimmed
    sec.tree.draw()
    x, y = sec.tree.figure.axes[0].transData.transform((sec.tree._leaf_x[0], 0.0))
    y -= 10  # on the leaf's label, under the axes
    from matplotlib.backend_bases import MouseEvent

    leaf = sec.tree.leaves[0]
    sec.tree.callbacks.process("button_press_event",
                               MouseEvent("button_press_event", sec.tree, x, y, button=1))
    assert sec.highlighted == leaf
    alpha = np.asarray(layer.face_color)[:, 3]
    chosen = (adata.obs["subclone"].astype(str) == leaf).to_numpy()
    assert (alpha[chosen] == 1).all() and (alpha[inside & ~chosen] < 0.2).all()


def test_subclones_on_selected_spots_and_a_clear_error_without(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    sec = widget.subclones
    sec.set_region("(selected spots)")
    sec.run()
    assert "no spots are selected" in sec.runner.status.text()
    spots = widget.sample.layer
    spots.selected_data = set(range(0, 300, 2))
    sec.form.epochs.value = 5
    sec.form.n_subclones.value = 2
    sec.run()
    qtbot.waitUntil(lambda: not sec.runner.running, timeout=WAIT)
    adata = widget.sample.adata
    assert adata.obs["subclone"].notna().sum() == 150
    assert "selection of 150 spots" in sec.summary.text()


def test_gene_programs_table_score_and_network(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    sec = widget.programs
    widget.tabs.setCurrentIndex(1)
    sec.set_groupby("truth")
    sec.form.epochs.value = 10
    sec.form.n_program_genes.value = 15
    qtbot.mouseClick(sec.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not sec.runner.running, timeout=WAIT)
    adata = widget.sample.adata
    assert [sec.program.itemText(i) for i in range(sec.program.count())] == [
        "Layer1", "Layer2", "Layer3"]
    sec.show_program("Layer3")
    assert sec.table.rowCount() == 15 and sec.table.item(0, 0).text() == "1"
    top = [sec.table.item(i, 1).text() for i in range(5)]
    assert sum(g.startswith("MK3_") for g in top) >= 3  # the planted layer markers lead
    assert sec.network.genes[:5] == top
    qtbot.mouseClick(sec.paint_button, LEFT)
    assert sec.layer.visible and sec.layer.metadata["key"] == "gene_programs_Layer3"
    assert np.isfinite(adata.obs["gene_programs_Layer3"]).all()
