"""SpatialData stores, Xenium and Visium HD folders through spatialdata / spatialdata-io."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tests_paths import DLPFC, PEER

from napari_scdl.errors import DataFormatError
from napari_scdl.io import read, write
from napari_scdl.layers import adata_to_layers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
BLOBS = PEER / "spatialdata_blobs.zarr"
XENIUM = PEER / "xenium_crop"
HD = PEER / "visium_hd_tiny"


def _needs(path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present")


@pytest.fixture(scope="module")
def asymmetric_sdata():
    """A 40 x 90 (rows x cols) RGB image at 2 um/pixel, and 4 cells (circles, in um, with
    their own translation) sitting on red squares painted into the image."""
    import anndata as ad
    import geopandas as gpd
    import pandas as pd
    import spatialdata as sd
    from shapely.geometry import Point
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from spatialdata.transformations import Scale, Translation

    img = np.full((3, 40, 90), 30, np.uint8)
    px = np.array([[10.0, 5.0], [80.0, 8.0], [45.0, 30.0], [70.0, 35.0]])  # (x, y) pixels
    for x, y in px.astype(int):
        img[:, y - 2:y + 3, x - 2:x + 3] = [[[250]], [[10]], [[10]]]
    offset = np.array([7.0, -3.0])  # the shapes' own translation (um)
    um = px * 2.0 - offset
    circles = gpd.GeoDataFrame({"radius": np.full(4, 3.0)},
                               geometry=[Point(*p) for p in um], index=pd.Index([11, 12, 13, 14]))
    rng = np.random.default_rng(0)
    table = ad.AnnData(rng.poisson(3, (4, 5)).astype(np.float32))
    table.obs["region"] = pd.Categorical(["cells"] * 4)
    table.obs["cell"] = [14, 12, 11, 13]  # table rows in another order than the shapes
    table = TableModel.parse(table, region="cells", region_key="region", instance_key="cell")
    return sd.SpatialData(
        images={"he": Image2DModel.parse(img, dims=("c", "y", "x"),
                                          transformations={"global": Scale([2.0, 2.0], axes=("y", "x"))})},
        shapes={"cells": ShapesModel.parse(circles, transformations={
            "global": Translation(offset, axes=("x", "y"))})},
        tables={"table": table}), px[[3, 1, 0, 2]]


def test_asymmetric_store_lines_up(asymmetric_sdata, tmp_path, make_napari_viewer):
    sdata, expected_xy = asymmetric_sdata
    store = tmp_path / "asym.zarr"
    sdata.write(store)
    auto = read(store)  # 2 um per pixel: micrometres are the finer frame
    np.testing.assert_allclose(auto.obsm["spatial"], expected_xy * 2.0, atol=1e-6)
    adata = read(store, pixel_frame="image")
    np.testing.assert_allclose(adata.obsm["spatial"], expected_xy, atol=1e-6)
    assert adata.uns["scdl"]["spatialdata"]["geometry"] == "circle"
    # diameter 6 um = 3 pixels of the image
    assert adata.uns["spatial"]["asym"]["scalefactors"]["spot_diameter_fullres"] == pytest.approx(3.0)
    viewer = make_napari_viewer()
    for sample in (adata, auto):  # both frames: cells sit on their red squares
        added = [viewer._add_layer_from_data(data, meta, kind)[0]
                 for data, meta, kind in adata_to_layers(sample)]
        img = next(ly for ly in added if type(ly).__name__ == "Image")
        pts = next(ly for ly in added if type(ly).__name__ == "Points")
        rc = np.round([img.world_to_data(p) for p in pts.data]).astype(int)
        under = np.asarray(img.data)[rc[:, 0], rc[:, 1]]
        assert (under[:, 0] > 200).all() and (under[:, 1] < 50).all(), under


def test_table_and_system_choices_are_checked(asymmetric_sdata, tmp_path):
    sdata, _ = asymmetric_sdata
    store = tmp_path / "asym.zarr"
    sdata.write(store)
    with pytest.raises(DataFormatError, match="tables: \\['table'\\]"):
        read(store, table="nope")
    with pytest.raises(DataFormatError, match="coordinate system 'other'"):
        read(store, coordinate_system="other")


@_needs(BLOBS)
def test_blobs_store_reads_the_labels_table():
    adata = read(BLOBS)
    info = adata.uns["scdl"]["spatialdata"]
    assert (info["table"], info["region"], info["geometry"]) == ("table", "blobs_labels", "labels")
    assert adata.n_obs == 11 and adata.obsm["spatial"].shape == (11, 2)
    xy = adata.obsm["spatial"]
    assert (xy >= 0).all() and (xy <= 64).all()  # inside the 64 x 64 image
    kinds = sorted(k for _, _, k in adata_to_layers(adata))
    assert kinds == ["image", "labels", "points"]


@_needs(BLOBS)
def test_round_trip_keeps_elements_and_input(tmp_path):
    import spatialdata as sd

    before = sorted(p.name for p in BLOBS.rglob("*"))
    adata = read(BLOBS)
    adata.obs["domain"] = np.where(np.arange(adata.n_obs) % 2, "a", "b")
    out = write(adata, tmp_path / "out.zarr")
    back = sd.read_zarr(out)
    src = sd.read_zarr(BLOBS)
    assert set(back.images) == set(src.images) and set(back.shapes) == set(src.shapes)
    assert list(back.tables["table"].obs["domain"]) == list(adata.obs["domain"])
    assert back.tables["table"].uns["spatialdata_attrs"]["region"] == "blobs_labels"
    assert sorted(p.name for p in BLOBS.rglob("*")) == before
    with pytest.raises(DataFormatError, match="exists"):
        write(adata, out)
    again = read(out)
    assert again.uns["scdl"]["sample_id"] == adata.uns["scdl"]["sample_id"]


@_needs(XENIUM)
def test_xenium_without_experiment_file_says_so():
    with pytest.raises(DataFormatError, match="experiment.xenium is missing.*pixel_size"):
        read(XENIUM)


@pytest.fixture(scope="module")
def xenium_copy(tmp_path_factory):
    if not XENIUM.exists():
        pytest.skip(f"{XENIUM} not present")
    folder = tmp_path_factory.mktemp("xenium")
    for f in XENIUM.iterdir():
        shutil.copy(f, folder / f.name)
    (folder / "experiment.xenium").write_text(json.dumps({"pixel_size": 0.2125}))
    return folder


def test_xenium_cells_with_outlines_and_graph(xenium_copy, make_napari_viewer):
    from napari_scdl.graph import build_graph

    adata = read(xenium_copy, image_extent_um=(1000, 1000, 1400, 1400))
    assert adata.n_obs == 526 and adata.n_vars > 10
    assert adata.uns["scdl"]["platform"] == "xenium"
    layers = adata_to_layers(adata)
    assert [k for _, _, k in layers] == ["image", "shapes", "points"]
    assert len(layers[1][0]) == 526  # one outline per cell
    g = build_graph(adata)  # Delaunay for cells, long edges cut
    deg = np.asarray(g.sum(1)).ravel()
    assert 3 < deg.mean() < 8 and g.nnz < 10 * adata.n_obs
    viewer = make_napari_viewer()
    for data, meta, kind in layers:
        viewer._add_layer_from_data(data, meta, kind)
    img, pts = viewer.layers[0], viewer.layers[-1]
    lo, hi = img.extent.world
    inside = ((pts.data >= lo) & (pts.data <= hi)).all(1).mean()
    assert inside > 0.95  # the cells sit on the morphology image


@pytest.mark.slow
def test_domains_on_cells_write_a_store(xenium_copy, tmp_path):
    import spatialdata as sd

    from napari_scdl.cli import main

    out = tmp_path / "cells.zarr"
    assert main(["domains", str(xenium_copy), "--n-domains", "3", "--epochs", "5",
                 "--no-histology", "--out", str(out)]) == 0
    back = sd.read_zarr(out)
    table = back.tables["table"]
    assert table.obs["domain"].nunique() == 3 and "cell_boundaries" in back.shapes
    assert "domain_confidence" in table.obs and "X_domain" in table.obsm


@_needs(HD)
def test_visium_hd_tiny_bins_are_squares():
    from napari_scdl.layers import spot_symbol

    adata = read(HD)
    assert adata.n_obs == 10 and adata.uns["scdl"]["bin_size_um"] == 2
    assert spot_symbol(adata) == "square"
    assert read(HD, bin_size=16).uns["scdl"]["bin_size_um"] == 2  # the only size present
    from napari_scdl.io.visium_hd import read_visium_hd

    with pytest.raises(DataFormatError, match="binned_outputs"):
        read_visium_hd(HD / "binned_outputs")


@pytest.mark.realdata
@pytest.mark.skipif(not DLPFC.exists(), reason="DLPFC 151673 not present")
def test_dlpfc_store_written_by_spatialdata_io(tmp_path, _dlpfc_adata):
    """A store spatialdata-io writes from 151673 opens on the Space Ranger reader's pixels."""
    import spatialdata_io

    from napari_scdl.layers import spot_diameter

    spatialdata_io.visium(DLPFC, dataset_id="151673").write(tmp_path / "sdio.zarr")
    adata = read(tmp_path / "sdio.zarr")
    ref = _dlpfc_adata
    assert adata.n_obs == ref.n_obs and adata.obs_names.isin(ref.obs_names).all()
    np.testing.assert_allclose(adata[ref.obs_names].obsm["spatial"], ref.obsm["spatial"], atol=1e-3)
    assert spot_diameter(adata) == pytest.approx(spot_diameter(ref))


@pytest.mark.realdata
@pytest.mark.skipif(not DLPFC.exists(), reason="DLPFC 151673 not present")
def test_dlpfc_store_round_trip(tmp_path, _dlpfc_adata):
    """151673 written as a SpatialData store (circles + H&E) reads back on the same pixels."""
    adata = _dlpfc_adata.copy()
    store = write(adata, tmp_path / "151673.zarr")
    back = read(store)
    assert back.n_obs == adata.n_obs
    order = back.obs_names.get_indexer(adata.obs_names)
    assert (order >= 0).all()
    np.testing.assert_allclose(back.obsm["spatial"][order], adata.obsm["spatial"], atol=1e-3)
    from napari_scdl.layers import image_layers, spot_diameter

    assert spot_diameter(back) == pytest.approx(spot_diameter(adata))
    (img0, meta0, _), (img1, meta1, _) = image_layers(adata)[0], image_layers(back)[0]
    # the H&E covers the same full-resolution extent (lowres copy x its scale)
    scale1 = np.diag(meta1["affine"])[:2]  # the store's image, full resolution, lazily
    np.testing.assert_allclose(np.array(img1.shape[:2]) * scale1,
                               np.array(img0.shape[:2]) * meta0["scale"], rtol=0.01)


def test_annotations_export_to_spatialdata_shapes(asymmetric_sdata, tmp_path):
    """Annotation polygons land in the store's coordinate system (micrometres here), where
    they cover the cells they were drawn around."""
    import spatialdata as sd
    from shapely.geometry import Point

    from napari_scdl.annotations import AnnotationStore
    from napari_scdl.annotations.io import export_spatialdata

    sdata, _ = asymmetric_sdata
    sdata.write(tmp_path / "in.zarr")
    adata = read(tmp_path / "in.zarr")
    store = AnnotationStore(adata, autosave=False)
    store.create_column("pathology")
    xy = adata.obsm["spatial"]
    store.assign_polygon("pathology", [[xy[:, 0].min() - 3, xy[:, 1].min() - 3],
                                       [xy[:, 0].max() + 3, xy[:, 1].min() - 3],
                                       [xy[:, 0].max() + 3, xy[:, 1].max() + 3],
                                       [xy[:, 0].min() - 3, xy[:, 1].max() + 3]], "tumour")
    with pytest.raises(Exception, match="input store"):
        export_spatialdata(store, "pathology", tmp_path / "in.zarr", shapes="drawn")
    out = export_spatialdata(store, "pathology", tmp_path / "ann.zarr", shapes="drawn")
    back = sd.read_zarr(out)
    gdf = sd.transform(back.shapes["pathology_annotations"], to_coordinate_system="global")
    assert list(gdf["category"]) == ["tumour"]
    cells = sd.transform(sdata.shapes["cells"], to_coordinate_system="global")
    assert all(gdf.geometry.iloc[0].contains(Point(p.x, p.y)) for p in cells.geometry)
    # a second export adds to the existing store
    export_spatialdata(store, "pathology", out, shapes="drawn", element="again")
    assert {"pathology_annotations", "again"} <= set(sd.read_zarr(out).shapes)


def test_outlines_coloured_in_their_cell_colour(xenium_copy):
    from napari_scdl.colors import category_colors
    from napari_scdl.layers import cell_layers, paint_outlines

    adata = read(xenium_copy)
    adata.obs["half"] = np.where(adata.obsm["spatial"][:, 0] > np.median(adata.obsm["spatial"][:, 0]),
                                 "right", "left")
    data, meta, _ = cell_layers(adata)[0]

    class Layer:  # what paint_outlines touches of a napari Shapes layer
        metadata = meta["metadata"]
        edge_color = None

    paint_outlines(Layer, adata, "half")
    colors = category_colors(adata, "half")
    col = np.array([np.mean(p[:, 1]) for p in data]) - np.median(adata.obsm["spatial"][:, 0])
    far = np.abs(col) > 10  # outlines clearly on one side (their cell's centre is too)
    expected = np.where(col > 0, colors["right"], colors["left"])
    assert (np.asarray(Layer.edge_color)[far] == expected[far]).all()


@_needs(BLOBS)
def test_labels_coloured_per_cell_by_category():
    from napari_scdl.colors import category_colors
    from napari_scdl.layers import color_labels

    adata = read(BLOBS)
    adata.obs["group"] = np.where(np.arange(adata.n_obs) < 5, "a", "b")
    cmap = color_labels(adata, "group")
    colors = category_colors(adata, "group")
    first = int(adata.obs["instance_id"].iloc[0])
    np.testing.assert_allclose(cmap.map(first)[:3], _rgb(colors["a"]), atol=1e-3)
    assert cmap.map(0)[3] == 0  # background stays transparent


def _rgb(hex_color):
    from matplotlib.colors import to_rgb

    return np.array(to_rgb(hex_color))
