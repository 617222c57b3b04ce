"""Figures rendered by napari: tissue + overlay + scale bar, legend or colorbar beside it."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from napari_scdl.errors import ScdlError
from napari_scdl.figure import color_source, export_figure, microns_per_pixel

DPI, WIDTH_IN = 80, 4.0


def _read(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _has_color(img: np.ndarray, rgb, tol: int = 12) -> bool:
    target = np.round(np.asarray(rgb) * 255).astype(int)
    return bool((np.abs(img - target).max(-1) <= tol).any())


def test_categorical_figure_has_tissue_and_legend(small_adata, tmp_path, napari_app):
    from napari_scdl.colors import category_colors

    out = export_figure(
        small_adata,
        "truth",
        tmp_path / "fig.png",
        dpi=DPI,
        width_in=WIDTH_IN,
        title="synthetic domains",
    )
    img = _read(out)
    panel_w = int(DPI * WIDTH_IN)
    assert abs(img.shape[1] - (panel_w + 2.0 * DPI)) <= 3  # tissue panel + 2 inch legend
    tissue, side = img[:, : panel_w - 2], img[:, panel_w + 2 :]
    assert tissue.std() > 20  # an image, not a blank canvas
    for color in category_colors(small_adata, "truth").values():
        assert _has_color(tissue, to_rgb(color)), color  # spots painted by domain
        assert _has_color(side, to_rgb(color), tol=3), color  # and the legend says which


def test_gene_figure_has_colorbar_and_scale(small_adata, tmp_path, napari_app):
    from napari_scdl.colors import colormap_lut

    out = export_figure(
        small_adata,
        "MK2_0, MK2_1",
        tmp_path / "gene.png",
        dpi=DPI,
        width_in=WIDTH_IN,
        cmap="magma",
        clim=(0.0, None),
    )
    img = _read(out)
    side = img[:, int(DPI * WIDTH_IN) + 2 :]
    lut = colormap_lut("magma")
    assert _has_color(side, lut[-1, :3], tol=6) and _has_color(side, lut[128, :3], tol=6)
    from scipy.spatial import cKDTree

    xy = small_adata.obsm["spatial"]
    spacing = np.median(cKDTree(xy).query(xy, k=2)[0][:, 1])
    assert microns_per_pixel(small_adata) == pytest.approx(100 / spacing)  # Visium: 100 um


def test_color_by_is_checked_before_rendering(small_adata, tmp_path):
    kind, values, label = color_source(small_adata, "total_counts")
    assert kind == "values" and label == "total_counts" and len(values) == small_adata.n_obs
    assert color_source(small_adata, "truth") == ("categorical", "truth")
    with pytest.raises(ScdlError, match="neither an obs column .*truth.* nor a gene"):
        export_figure(small_adata, "nonsense", tmp_path / "x.png")
    with pytest.raises(ScdlError, match="does not exist"):
        export_figure(small_adata, "truth", tmp_path / "missing" / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_slide_scale(dlpfc_adata, tmp_path, napari_app):
    # Visium: spots 100 um apart; 151673's spots are ~137 full-res pixels apart
    assert microns_per_pixel(dlpfc_adata) == pytest.approx(100 / 137.0, rel=0.02)
    out = export_figure(dlpfc_adata, "MOBP", tmp_path / "mobp.png", dpi=100, width_in=4)
    img = _read(out)
    assert img.shape[1] > 400 and img[:, :400].std() > 20
