"""Publication figures rendered by napari: tissue + spot overlay + scale bar, with a legend.

:func:`export_figure` opens a hidden napari viewer, shows the sample's H&E and its spots
coloured by an ``obs`` column or a gene (or a meta-gene of several), turns on napari's scale
bar in micrometres and grabs the canvas at the asked resolution; matplotlib then sets the
legend (categories) or colorbar (values) beside the image and writes one PNG. napari and Qt
are imported only when a figure is made (``import napari_scdl`` stays Qt-free).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .errors import ScdlError

logger = logging.getLogger(__name__)

VISIUM_SPACING_UM = 100.0  # centre-to-centre distance of neighbouring Visium spots
_MARGIN = 0.04  # blank border around the tissue, as a fraction of its size


def microns_per_pixel(adata) -> float | None:
    """Micrometres per full-resolution pixel, from the Visium spot spacing (100 µm).

    Uses the median distance of each spot to its nearest neighbour; ``None`` when the sample
    is not on a Visium grid (no ``obs['array_row']``) and no size is known.
    """
    scdl = adata.uns.get("scdl") or {}
    if scdl.get("microns_per_pixel"):
        return float(scdl["microns_per_pixel"])
    if "array_row" not in adata.obs or adata.n_obs < 2:
        return None
    from scipy.spatial import cKDTree

    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    d, _ = cKDTree(xy).query(xy[: min(len(xy), 5000)], k=2)
    spacing = float(np.median(d[:, 1]))
    return VISIUM_SPACING_UM / spacing if spacing > 0 else None


def color_source(
    adata, color_by: str, *, layer: str | None = None, agg: Literal["mean", "sum"] = "mean"
):
    """What ``color_by`` names: ``("categorical", column)`` or ``("values", array, label)``.

    An ``obs`` column wins over a gene of the same name; ``"A, B"`` is a meta-gene score.
    """
    if color_by in adata.obs.columns:
        col = adata.obs[color_by]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            return ("values", col.to_numpy(dtype=np.float32), color_by)
        return ("categorical", color_by)
    from .tl.expression import gene_values

    genes = [g.strip() for g in str(color_by).split(",") if g.strip()]
    try:
        values = gene_values(adata, genes if len(genes) > 1 else genes[0], layer=layer, agg=agg)
    except (ScdlError, IndexError) as err:
        cols = list(adata.obs.columns)
        raise ScdlError(
            f"--color-by {color_by!r} is neither an obs column ({', '.join(cols) or 'none'}) "
            f"nor a gene: {err}"
        ) from err
    label = genes[0] if len(genes) == 1 else f"{agg} of {', '.join(genes)}"
    source = "" if layer is None else f", {layer}"
    return ("values", values, f"{label}\nlog-normalised expression{source}")


def has_display() -> bool:
    """Whether Qt can open windows here (a display, or an already running Qt application)."""
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    from qtpy.QtWidgets import QApplication

    return QApplication.instance() is not None


def export_figure(
    adata,
    color_by: str,
    out: str | Path,
    *,
    layer: str | None = None,
    agg: Literal["mean", "sum"] = "mean",
    cmap: str = "viridis",
    clim: tuple[float, float] | None = None,
    dpi: int = 300,
    width_in: float = 6.0,
    title: str | None = None,
    scale_bar: bool = True,
) -> Path:
    """Write a PNG of the tissue with spots coloured by ``color_by``, legend and scale bar.

    Parameters
    ----------
    color_by
        An ``obs`` column (categorical: legend; numeric: colorbar), a gene, or several
        comma-separated genes (their ``agg`` meta-gene score, log-normalised expression).
    layer
        Expression layer for genes (e.g. ``"<key>_imputed"``); default ``X``.
    cmap, clim
        napari colormap name and contrast limits for values (default, or a ``None``
        limit: the minimum / maximum).
    dpi, width_in
        The tissue panel is ``dpi * width_in`` pixels wide; the PNG records ``dpi``.
    scale_bar
        napari's scale bar in µm (Visium: 100 µm between spot centres), when known.

    Returns the path written. Needs a display (e.g. ``xvfb-run -a`` on a headless server);
    nothing is written to ``adata``.
    """
    out = Path(out)
    if not out.parent.exists():
        raise ScdlError(f"cannot write {out}: folder {out.parent} does not exist")
    if dpi < 10 or width_in <= 0:
        raise ScdlError(f"dpi must be >= 10 and width_in > 0 (got dpi={dpi}, width_in={width_in})")
    if "spatial" not in adata.obsm:
        raise ScdlError("adata.obsm['spatial'] is missing: no spot positions to draw")
    if not has_display():
        raise ScdlError(
            "making a figure needs a display (napari renders it); on a server run "
            "it under a virtual one: xvfb-run -a napari-scdl figure ..."
        )
    source = color_source(adata, color_by, layer=layer, agg=agg)
    if source[0] == "values":
        clim = _full_clim(source[1], clim)
    um = microns_per_pixel(adata) if scale_bar else None
    canvas = _render(adata, source, um, cmap=cmap, clim=clim, width_px=int(round(dpi * width_in)))
    _compose(canvas, source, adata, out, dpi=dpi, cmap=cmap, clim=clim, title=title)
    logger.info("wrote %s (%d x %d px tissue panel)", out, canvas.shape[1], canvas.shape[0])
    return out


def _full_clim(values, clim) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    lo = lo if clim is None or clim[0] is None else float(clim[0])
    hi = hi if clim is None or clim[1] is None else float(clim[1])
    return (lo, hi if hi > lo else lo + 1.0)


def _render(adata, source, um, *, cmap, clim, width_px: int) -> np.ndarray:
    """The tissue panel as an RGB array, rendered by a hidden napari viewer."""
    import napari
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    from .colors import paint_categorical, paint_values
    from .layers import adata_to_layers, xy_to_rc

    rc = xy_to_rc(adata.obsm["spatial"])
    viewer = napari.Viewer(show=False, title="napari-scdl figure")
    # a canvas renders only once its window is shown: show it, but never on screen
    viewer.window._qt_window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    viewer.window.show()
    try:
        layers = []
        for data, kwargs, kind in adata_to_layers(adata):
            if kind == "image" and not kwargs.get("visible", True):
                continue  # only the best-resolution image
            if kind == "points":
                bbox = _bbox(rc, float(kwargs["size"]))
                if not layers:  # no tissue image: a white background the size of the tissue
                    step = (bbox[1] - bbox[0]) / 2  # pixel centres sit half a pixel inside
                    layers.append(
                        viewer.add_image(
                            np.full((2, 2, 3), 255, np.uint8),
                            rgb=True,
                            scale=step,
                            translate=bbox[0] + step / 2,
                        )
                    )
                kwargs = {k: v for k, v in kwargs.items() if k != "metadata"}
            elif kind == "image" and not kwargs.get("multiscale"):
                data, kwargs = _crop(data, kwargs, bbox=_bbox(rc, 0.0))
            layers.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
        spots = layers[-1]
        if source[0] == "categorical":
            paint_categorical(spots, adata, source[1])
        else:
            paint_values(spots, source[1], cmap=cmap, clim=clim)
        if um is not None:
            for ly in layers:
                ly.scale = np.asarray(ly.scale) * um
                ly.translate = np.asarray(ly.translate) * um
                if hasattr(type(ly), "units"):  # napari >= 0.6: units live on layers
                    ly.units = ("um", "um")
            if not hasattr(type(layers[0]), "units"):
                viewer.scale_bar.unit = "um"
            viewer.scale_bar.visible = True
            viewer.scale_bar.box = True
            viewer.scale_bar.font_size = max(4.0, width_px / 120)  # same size when printed
        ext = viewer.layers.extent
        native_w = float(ext.world[1][-1] - ext.world[0][-1]) / float(min(ext.step[-2:]))
        QApplication.processEvents()
        img = viewer.export_figure(scale_factor=width_px / max(native_w, 1.0))
    finally:
        viewer.close()
    return np.asarray(img)[..., :3]


def _bbox(rc: np.ndarray, spot: float) -> np.ndarray:
    """(2, 2) [[row0, col0], [row1, col1]] around the spots plus a margin."""
    lo, hi = rc.min(0) - spot / 2, rc.max(0) + spot / 2
    pad = _MARGIN * (hi - lo).max()
    return np.stack([lo - pad, hi + pad])


def _crop(data, kwargs: dict, *, bbox: np.ndarray):
    """Cut an image layer down to the tissue (keeps its placement in full-res pixels)."""
    scale = np.asarray(kwargs.get("scale", (1.0, 1.0)), dtype=float)
    offset = np.asarray(kwargs.get("translate", (0.0, 0.0)), dtype=float)
    lo = np.floor((bbox[0] - offset) / scale).astype(int).clip(0)
    hi = np.ceil((bbox[1] - offset) / scale).astype(int).clip(lo + 1, np.asarray(data.shape[:2]))
    kwargs = dict(kwargs, translate=offset + lo * scale)
    return np.asarray(data[lo[0] : hi[0], lo[1] : hi[1]]), kwargs


def _compose(img: np.ndarray, source, adata, out: Path, *, dpi, cmap, clim, title) -> None:
    """Put the legend or colorbar (and an optional title) beside the image; save as PNG."""
    from matplotlib.figure import Figure

    h, w = img.shape[:2]
    side_in = 2.0 if source[0] == "categorical" else 1.1
    top_in = 0.35 if title else 0.0
    fig_w, fig_h = w / dpi + side_in, h / dpi + top_in
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0, 0, (w / dpi) / fig_w, (h / dpi) / fig_h))
    ax.imshow(img, interpolation="none")
    ax.set_axis_off()
    if title:
        fig.text(
            0.5 * (w / dpi) / fig_w,
            1 - 0.5 * top_in / fig_h,
            title,
            ha="center",
            va="center",
            fontsize=10,
        )
    x0 = (w / dpi + 0.1) / fig_w
    if source[0] == "categorical":
        _legend(fig, adata, source[1], x0)
    else:
        _colorbar(fig, source[1], source[2], x0, side_in / fig_w, h / dpi / fig_h, cmap, clim)
    fig.savefig(out, dpi=dpi, facecolor="white")


def _legend(fig, adata, key: str, x0: float) -> None:
    from matplotlib.patches import Patch

    from .colors import category_colors

    counts = adata.obs[key].astype(str).value_counts()
    handles = [
        Patch(facecolor=c, edgecolor="none", label=f"{name} ({int(counts.get(name, 0))})")
        for name, c in category_colors(adata, key).items()
    ]
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(x0, 0.5),
        frameon=False,
        fontsize=7,
        title=key,
        title_fontsize=8,
    )


def _colorbar(fig, values, label, x0, width, height, cmap, clim) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from .colors import lut_colormap

    lo, hi = _full_clim(values, clim)
    cax = fig.add_axes((x0, 0.5 - 0.3 * height, 0.12 * width, 0.6 * height))
    cb = fig.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=lut_colormap(cmap)), cax=cax)
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
