"""Real napari viewers: the plugin's reader, sample data and layer placement."""

from __future__ import annotations

import numpy as np
import pytest

from napari_scdl._qt.common.samples import spot_layers


def _mean_color_under(image_layer, points):
    """Mean RGB of the image pixels under each point (world coords -> data coords)."""
    img = np.asarray(image_layer.data)
    idx = np.round(np.asarray([image_layer.world_to_data(p) for p in points])).astype(int)
    idx[:, 0] = np.clip(idx[:, 0], 0, img.shape[0] - 1)
    idx[:, 1] = np.clip(idx[:, 1], 0, img.shape[1] - 1)
    return img[idx[:, 0], idx[:, 1]].astype(float)


@pytest.mark.realdata
def test_open_real_slide_through_plugin(make_napari_viewer, dlpfc_path):
    viewer = make_napari_viewer()
    layers = viewer.open(str(dlpfc_path), plugin="napari-scdl")
    kinds = sorted(type(ly).__name__ for ly in layers)
    assert kinds == ["Image", "Points"]
    img = next(ly for ly in layers if type(ly).__name__ == "Image")
    pts = next(ly for ly in layers if type(ly).__name__ == "Points")
    scalef = 0.045004502
    np.testing.assert_allclose(img.scale, [1 / scalef, 1 / scalef], rtol=1e-6)
    np.testing.assert_allclose(pts.size, 96.40082438014726)
    assert pts.metadata["adata"].n_obs == 3639 == len(pts.data)
    # spots land on tissue: image under spots is darker/more coloured than the background
    under = _mean_color_under(img, pts.data).mean(0)
    data = np.asarray(img.data).reshape(-1, 3).astype(float)
    background = data[data.sum(1) > np.percentile(data.sum(1), 90)].mean(0)
    assert under.sum() < background.sum() - 60, (under, background)
    assert spot_layers(viewer) == [pts]


def test_sample_data_spots_sit_on_their_layers(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-scdl", "synthetic_tissue")
    img = next(ly for ly in viewer.layers if type(ly).__name__ == "Image")
    pts = spot_layers(viewer)[0]
    adata = pts.metadata["adata"]
    rgb = _mean_color_under(img, pts.data)
    truth = adata.obs["truth"].to_numpy()
    means = np.array([rgb[truth == t].mean(0) for t in adata.obs["truth"].cat.categories])
    # each layer has its own H&E colour: spots of different layers see different colours
    assert np.linalg.norm(means[0] - means[-1]) > 40
    # no spot falls on the white background
    assert (rgb.sum(1) < 3 * 240).mean() > 0.97


def test_two_samples_keep_their_own_adata(make_napari_viewer, small_adata):
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.datasets import synthetic_visium

    viewer = make_napari_viewer()
    other = synthetic_visium(300, n_domains=3, n_genes=50, seed=1, library_id="other")
    add_sample(viewer, small_adata)
    add_sample(viewer, other)
    adatas = [ly.metadata["adata"] for ly in spot_layers(viewer)]
    assert adatas[0] is small_adata and adatas[1] is other
