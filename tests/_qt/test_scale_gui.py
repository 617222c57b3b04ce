"""What a million-spot sample needs from the napari layer (issue 14), checked small: the
colours reach the canvas without napari rebuilding the layer, the rim of sub-pixel spots
takes the spot's colour, a category switch does not rebuild the hover table."""

from __future__ import annotations

import numpy as np


def _markers(viewer, layer):
    return viewer.window._qt_viewer.canvas.layer_to_visual[layer].node.points_markers


def test_zoomed_out_bins_show_their_colours_not_the_border(make_napari_viewer):
    from qtpy.QtWidgets import QApplication

    from napari_scdl._qt.common.result_layers import show_categorical, show_values
    from napari_scdl._qt.common.samples import spot_layers
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.datasets import synthetic_sample
    from napari_scdl.tl.expression import gene_values

    a = synthetic_sample(40_000, layout="visium_hd", n_genes=50, seed=0)
    viewer = make_napari_viewer(show=True)
    add_sample(viewer, a)
    viewer.reset_view()
    spots = spot_layers(viewer)[0]
    layer = show_values(viewer, spots, gene_values(a, a.var_names[0]), "gene expression")[0]
    layer = show_values(viewer, spots, gene_values(a, a.var_names[1]), "gene expression")[0]
    QApplication.processEvents()
    data = _markers(viewer, layer)._data
    np.testing.assert_allclose(data["a_fg_color"], data["a_bg_color"])
    np.testing.assert_allclose(layer.border_color, layer.face_color)
    # bins are ~1 screen pixel here: the picture has the colormap's colours, not grey
    img = viewer.screenshot(canvas_only=True)[..., :3].reshape(-1, 3).astype(float)
    img = img[img.sum(1) > 30]
    assert np.abs(img - img.mean(1, keepdims=True)).mean() > 10  # not a neutral grey

    cat, _ = show_categorical(viewer, spots, "truth")
    feats = cat.features
    a.obs["truth2"] = a.obs["truth"].copy()
    cat2, _ = show_categorical(viewer, spots, "truth")
    assert cat2 is cat
    assert cat.features is not feats  # a new obs column: the table is rebuilt
    feats = cat.features
    show_categorical(viewer, spots, "truth")
    assert cat.features is feats  # nothing new: written in place
    codes = a.obs["truth"].cat.codes.to_numpy()
    rgba = np.asarray(cat.face_color)
    for c in np.unique(codes)[:3]:
        assert len(np.unique(rgba[codes == c], axis=0)) == 1


def test_large_layers_redraw_the_thumbnail_once_switching_pauses(make_napari_viewer, qtbot,
                                                                  monkeypatch, small_adata):
    from napari_scdl._qt.common import result_layers
    from napari_scdl._qt.common.samples import spot_layers
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.tl.expression import gene_values

    monkeypatch.setattr(result_layers, "THUMBNAIL_LATER_SPOTS", 1)
    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    spots = spot_layers(viewer)[0]
    layer = result_layers.show_values(viewer, spots, gene_values(small_adata, small_adata.var_names[0]),
                                      "gene expression")[0]
    qtbot.wait(300)
    calls = []
    monkeypatch.setattr(layer, "_update_thumbnail", lambda: calls.append(1))
    for g in small_adata.var_names[1:6]:
        result_layers.show_values(viewer, spots, gene_values(small_adata, g), "gene expression")
    assert calls == []  # not at each switch
    qtbot.waitUntil(lambda: calls == [1], timeout=2000)  # once, after the pause
