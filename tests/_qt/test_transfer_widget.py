"""The "Transfer" dock widget: reference file + label column -> labels/proportions on the
tissue, the share of a label, the rare-population view, a spot's bar chart, Cancel."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

LEFT = Qt.MouseButton.LeftButton
WAIT = 120_000


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _slide(n, seed):
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(n, n_domains=3, n_genes=80, seed=seed, image=False)


@pytest.fixture
def viewer_and_widget(make_napari_viewer, tmp_path):
    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.transfer import TransferWidget

    ref = _slide(300, 0)
    ref.obs["cell_type"] = ref.obs["truth"].astype(str)
    ref.write_h5ad(tmp_path / "ref.h5ad")
    viewer = make_napari_viewer()
    add_sample(viewer, _slide(250, 1))
    widget = TransferWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    widget.set_reference(str(tmp_path / "ref.h5ad"))
    return viewer, widget


def _run(widget, qtbot, mode="labels"):
    widget.mode.setCurrentText(mode)
    widget.labels_key.setCurrentText("cell_type")
    widget.form.epochs.value = 30
    qtbot.mouseClick(widget.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)


def test_transfer_labels_painted_with_rare_view_and_spot_chart(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    assert widget.labels_key.findText("cell_type") >= 0  # columns read from the file
    _run(widget, qtbot)
    adata = widget.sample.adata
    acc = (adata.obs["transferred_label"].astype(str) == adata.obs["truth"].astype(str)).mean()
    assert acc > 0.75
    result = [ly for ly in viewer.layers if ly.metadata.get("key") == "transferred_label"]
    assert result and result[0].visible
    assert widget.show_label.count() == 3 and widget.save_button.isEnabled()
    layer = widget.paint_share("Layer1")
    colours = np.asarray(layer.face_color)
    assert colours.std(0)[:3].max() > 0.05  # the share varies over the tissue
    rare = widget.paint_rare("Layer1")
    assert rare is not None and "exceeds the shuffled-label null" in widget.summary.text()
    text = widget.show_spot(0)
    assert adata.obs_names[0] in text and "Layer" in text


def test_proportions_mode_and_cancel(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    widget.form.n_null.value = 0
    _run(widget, qtbot, "proportions")
    adata = widget.sample.adata
    props = adata.obsm["transferred_label_proportions"]
    np.testing.assert_allclose(props.sum(1), 1, atol=1e-5)
    assert not widget.show_rare.isEnabled()  # no null was trained
    # a long run cancelled leaves the earlier result untouched
    widget.form.epochs.value = 1000
    before = props.copy()
    qtbot.mouseClick(widget.runner.run_button, LEFT)
    qtbot.wait(300)
    qtbot.mouseClick(widget.runner.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)
    np.testing.assert_allclose(adata.obsm["transferred_label_proportions"], before)


def test_missing_reference_is_said(make_napari_viewer):
    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.transfer import TransferWidget

    viewer = make_napari_viewer()
    add_sample(viewer, _slide(100, 2))
    widget = TransferWidget(viewer)
    widget.runner.run_button.click()
    assert "reference" in widget.runner.status.text()
