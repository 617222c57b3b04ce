"""Readers: real Space Ranger folder, peer files, every layout variant, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests_paths import PEER
from visium_fixtures import write_visium_folder

from napari_scdl.errors import DataFormatError
from napari_scdl.io import can_read, read, read_visium, write_h5ad


@pytest.mark.realdata
def test_read_dlpfc_lowres_only(dlpfc_adata):
    a = dlpfc_adata
    assert a.shape == (3639, 7319)
    assert a.var_names.is_unique and "MBP" in a.var_names and "PCP4" in a.var_names
    assert a.var["gene_ids"].str.startswith("ENSG").all()
    lib = a.uns["scdl"]["library_id"]
    assert list(a.uns["spatial"][lib]["images"]) == ["lowres"]
    assert a.uns["spatial"][lib]["images"]["lowres"].shape == (600, 600, 3)
    assert a.uns["spatial"][lib]["scalefactors"]["spot_diameter_fullres"] == pytest.approx(96.4, abs=0.1)
    # (x, y): x = pxl_col_in_fullres; spot AAACAAGTATCTCCCA-1 is at row 8468, col 9791
    assert tuple(a[a.obs_names == "AAACAAGTATCTCCCA-1"].obsm["spatial"][0]) == (9791, 8468)
    assert (a.obs["in_tissue"] == 1).all()
    assert a.X.dtype == np.float32 and a.obs["total_counts"].min() > 0


@pytest.mark.realdata
def test_read_peer_scanpy_visium():
    a = read(PEER / "scanpy_visium_1.0.0")
    lib = a.uns["scdl"]["library_id"]
    assert a.n_obs > 0 and set(a.uns["spatial"][lib]["images"]) == {"hires", "lowres"}


@pytest.mark.realdata
def test_read_peer_squidpy_h5ad():
    a = read(PEER / "squidpy" / "test_data.h5ad")
    assert a.n_obs == 49 and a.obsm["spatial"].shape == (49, 2)
    assert a.uns["scdl"]["library_id"] == "V1_Adult_Mouse_Brain"
    assert set(a.uns["spatial"]["V1_Adult_Mouse_Brain"]["images"]) == {"hires", "lowres"}


@pytest.mark.parametrize("counts", ["h5", "mtx"])
@pytest.mark.parametrize("positions", ["v1", "v2", "parquet"])
def test_layout_variants(tmp_path, _small_adata, counts, positions):
    d = write_visium_folder(_small_adata, tmp_path / "s", counts=counts, positions=positions)
    a = read(d)
    assert a.n_obs == _small_adata.n_obs  # off-tissue spots dropped
    assert list(a.var_names) == list(_small_adata.var_names)
    np.testing.assert_allclose(a.obsm["spatial"], _small_adata.obsm["spatial"].round(), atol=0.5)
    np.testing.assert_array_equal(a.X.toarray(), _small_adata.X.toarray())


@pytest.mark.parametrize("images", [(), ("hires",), ("lowres",)])
def test_any_images(tmp_path, _small_adata, images):
    a = read(write_visium_folder(_small_adata, tmp_path / "s", images=images))
    assert set(a.uns["spatial"]["s"]["images"]) == set(images)


def test_outs_subfolder_and_off_tissue(tmp_path, _small_adata):
    write_visium_folder(_small_adata, tmp_path / "run" / "outs")
    assert can_read(tmp_path / "run")
    a = read_visium(tmp_path / "run", in_tissue_only=False)
    assert a.uns["scdl"]["library_id"] == "run"
    assert a.n_obs == _small_adata.n_obs  # counts only list tissue spots here


def test_duplicate_gene_symbols_made_unique(tmp_path, _small_adata):
    b = _small_adata.copy()
    names = list(b.var_names)
    names[1] = names[0]
    b.var_names = names
    a = read(write_visium_folder(b, tmp_path / "s"))
    assert a.var_names.is_unique and names[0] in a.var_names


def test_plain_h5ad_without_image(tmp_path, _small_adata):
    import anndata as ad

    b = ad.AnnData(X=_small_adata.X, obs=_small_adata.obs[[]].copy(),
                   obsm={"spatial": _small_adata.obsm["spatial"]})
    b.write_h5ad(tmp_path / "plain.h5ad")
    a = read(tmp_path / "plain.h5ad")
    assert a.uns["scdl"]["library_id"] == "plain" and a.obsm["spatial"].shape[1] == 2


def test_h5ad_roundtrip_keeps_sample_id(tmp_path, small_adata):
    write_h5ad(small_adata, tmp_path / "x.h5ad")
    assert read(tmp_path / "x.h5ad").uns["scdl"]["sample_id"] == small_adata.uns["scdl"]["sample_id"]


# -- bad input: one clear message naming the file and what was expected -----------------
def test_missing_counts(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s", counts="none")
    with pytest.raises(DataFormatError, match="no counts in .*filtered_feature_bc_matrix.h5"):
        read(d)


def test_missing_positions(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s")
    (d / "spatial" / "tissue_positions.csv").unlink()
    with pytest.raises(DataFormatError, match="tissue_positions.csv .*not found"):
        read(d)


def test_barcodes_missing_from_positions(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s")
    f = d / "spatial" / "tissue_positions.csv"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:1] + lines[4:]) + "\n")
    with pytest.raises(DataFormatError, match="3 of 600 barcodes in the counts are not in"):
        read(d)


def test_nan_coordinates(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s")
    f = d / "spatial" / "tissue_positions.csv"
    lines = f.read_text().splitlines()
    parts = lines[1].split(",")
    parts[4] = ""
    lines[1] = ",".join(parts)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match="missing \\(NaN\\) pixel coordinates"):
        read(d)


def test_unreadable_image(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s")
    (d / "spatial" / "tissue_hires_image.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match="cannot read the image .*tissue_hires_image.png"):
        read(d)


def test_zero_spots_in_tissue(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s")
    f = d / "spatial" / "tissue_positions.csv"
    import pandas as pd

    pos = pd.read_csv(f)
    pos["in_tissue"] = 0
    pos.to_csv(f, index=False)
    with pytest.raises(DataFormatError, match="no spot .* is marked in tissue"):
        read(d)


def test_bad_scalefactors_and_all_problems_listed(tmp_path, _small_adata):
    d = write_visium_folder(_small_adata, tmp_path / "s")
    (d / "spatial" / "scalefactors_json.json").write_text(json.dumps({"x": 1}))
    (d / "spatial" / "tissue_positions.csv").unlink()
    with pytest.raises(DataFormatError) as err:
        read(d)
    assert "spot_diameter_fullres" in str(err.value) and "tissue_positions" in str(err.value)


def test_not_a_sample(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataFormatError, match="expected a Space Ranger output folder or an .h5ad"):
        read(tmp_path / "notes.txt")
    with pytest.raises(DataFormatError, match="not found"):
        read(tmp_path / "nope.h5ad")


def test_h5ad_without_coordinates(tmp_path, _small_adata):
    import anndata as ad

    ad.AnnData(X=_small_adata.X).write_h5ad(tmp_path / "nocoords.h5ad")
    with pytest.raises(DataFormatError, match="no obsm\\['spatial'\\]"):
        read(tmp_path / "nocoords.h5ad")


def test_square_bins_read_and_get_a_square_grid_graph(tmp_path, _small_adata):
    """Visium HD-like bins (a square grid, positions in parquet, as Space Ranger 3 writes
    them under binned_outputs/square_008um/) read like spots, and the spot graph links
    each bin to its 4 side neighbours, not 6 hexagon neighbours."""
    from napari_scdl.graph import build_graph, grid_neighbours

    b = _small_adata[:100].copy()
    rows, cols = np.divmod(np.arange(100), 10)
    b.obs["array_row"], b.obs["array_col"] = rows, cols
    b.obsm["spatial"] = np.c_[200 + 30 * cols, 200 + 30 * rows].astype(float)
    a = read(write_visium_folder(b, tmp_path / "square_008um", positions="parquet"))
    assert a.n_obs == 100
    assert grid_neighbours(a) == 4
    deg = np.asarray(build_graph(a).sum(1)).ravel()
    interior = (rows > 0) & (rows < 9) & (cols > 0) & (cols < 9)
    assert (deg[interior] == 4).all() and deg.max() == 4
    assert grid_neighbours(_small_adata) == 6  # hexagonal Visium spots
    # drawn as squares of the bin's width (round spots stay discs)
    from napari_scdl.layers import spots_layer

    assert spots_layer(a)[1]["symbol"] == "square"
    assert spots_layer(_small_adata)[1]["symbol"] == "disc"
