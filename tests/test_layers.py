"""The AnnData <-> layer converter: coordinates, scale, metadata."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from napari_scdl.layers import adata_to_layers, rc_to_xy, spot_diameter, spots_layer, xy_to_rc


def _asym():
    """Three spots at clearly different x and y so a swap fails loudly."""
    xy = np.array([[100.0, 10.0], [300.0, 20.0], [500.0, 30.0]])
    a = ad.AnnData(X=np.ones((3, 2), np.float32), obsm={"spatial": xy})
    a.obs_names = ["a", "b", "c"]
    img = np.zeros((40, 600, 3), np.uint8)  # wide image: rows=y (small), cols=x (large)
    a.uns["spatial"] = {"lib": {"images": {"hires": img},
                                "scalefactors": {"tissue_hires_scalef": 0.5,
                                                 "spot_diameter_fullres": 12.0}}}
    a.uns["scdl"] = {"library_id": "lib", "sample_id": "s1"}
    return a


def test_xy_rc_swap_is_explicit():
    xy = np.array([[100.0, 10.0]])
    assert xy_to_rc(xy).tolist() == [[10.0, 100.0]]
    assert rc_to_xy(xy_to_rc(xy)).tolist() == xy.tolist()


def test_layers_of_asymmetric_sample():
    a = _asym()
    layers = adata_to_layers(a)
    (img, img_kw, img_kind), (pts, pts_kw, pts_kind) = layers
    assert img_kind == "image" and pts_kind == "points"
    assert img_kw["scale"] == (2.0, 2.0) and img_kw["rgb"]
    # spot "c" at x=500, y=30 -> napari (row=30, col=500)
    assert pts[2].tolist() == [30.0, 500.0]
    assert pts_kw["size"] == 12.0
    assert pts_kw["metadata"]["adata"] is a
    assert list(pts_kw["features"]["barcode"]) == ["a", "b", "c"]
    # the image spans rows 0..40*2=80 and cols 0..1200 in world units: spots fall inside
    assert (pts[:, 0] < img.shape[0] * 2).all() and (pts[:, 1] < img.shape[1] * 2).all()


def test_spot_diameter_without_scalefactors():
    a = _asym()
    del a.uns["spatial"]
    assert spot_diameter(a) == pytest.approx(0.9 * np.sqrt(200**2 + 10**2), rel=1e-6)


def test_best_image_visible_only(small_adata):
    lib = small_adata.uns["scdl"]["library_id"]
    small_adata.uns["spatial"][lib]["images"]["lowres"] = small_adata.uns["spatial"][lib]["images"]["hires"][::3, ::3]
    layers = adata_to_layers(small_adata)
    vis = [kw["visible"] for _, kw, kind in layers if kind == "image"]
    assert vis == [True, False]


def test_float_images_converted(small_adata):
    lib = small_adata.uns["scdl"]["library_id"]
    small_adata.uns["spatial"][lib]["images"]["hires"] = np.random.default_rng(0).random((20, 20, 3)) * 4.3
    img = adata_to_layers(small_adata)[0][0]
    assert img.dtype == np.uint8 and img.max() == 255


def test_spots_layer_features_include_obs(small_adata):
    _, kw, _ = spots_layer(small_adata)
    assert {"barcode", "truth", "total_counts"} <= set(kw["features"].columns)
