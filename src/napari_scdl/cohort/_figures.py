"""Per-slide figures of a cohort run, made inside dask tasks (no display, no Qt).

:func:`napari_scdl.figure.export_figure` renders with a hidden napari viewer, which needs a
display and Qt's main thread, neither of which a dask worker has. Here the tissue panel
(H&E, spots coloured by the cohort's domains) is drawn by matplotlib's Agg backend, and the
figure module's layout puts the legend beside it (the same colours, legend and title as
``napari-scdl figure``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_MARGIN = 0.04


def _image(adata):
    """(image, scale full-res px -> image px) of the slide's best image, or (None, 1)."""
    spatial = adata.uns.get("spatial") or {}
    if not spatial:
        return None, 1.0
    lib = next(iter(spatial.values()))
    images, sf = lib.get("images") or {}, lib.get("scalefactors") or {}
    for name in ("hires", "lowres"):
        if name in images:
            return np.asarray(images[name]), float(sf.get(f"tissue_{name}_scalef", 1.0))
    return None, 1.0


def tissue_panel(adata, key: str, *, width_px: int = 900) -> np.ndarray:
    """RGB array: the slide's H&E (when it has one) cropped to the tissue, spots coloured by
    ``obs[key]`` with the plugin's colours (``uns[f'{key}_colors']`` or the palette)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..colors import category_colors
    from ..figure import microns_per_pixel

    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    lo, hi = xy.min(0), xy.max(0)
    pad = _MARGIN * float((hi - lo).max()) + 1.0
    lo, hi = lo - pad, hi + pad
    w, h = hi - lo
    fig = Figure(figsize=(width_px / 100, width_px / 100 * h / max(w, 1e-9)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    img, s = _image(adata)
    if img is not None:
        ax.imshow(img, extent=(-0.5 / s, (img.shape[1] - 0.5) / s, (img.shape[0] - 0.5) / s,
                               -0.5 / s), interpolation="bilinear")
    colors = category_colors(adata, key)
    labels = adata.obs[key].astype(str).to_numpy()
    face = np.array([colors.get(v, "#999999") for v in labels])
    um = microns_per_pixel(adata)
    spot_px = 55.0 / um if um else float(np.median(np.diff(np.sort(xy[:, 0]))[:50]) or 1.0)
    size = (spot_px * fig.dpi * fig.get_figwidth() / w * 72 / fig.dpi) ** 2  # points^2
    ax.scatter(xy[:, 0], xy[:, 1], s=max(size, 1.0), c=face, linewidths=0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])
    ax.set_axis_off()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def slide_figure(adata, key: str, out: str | Path, *, title: str | None = None,
                 dpi: int = 150) -> Path:
    """Write ``out`` (PNG): the slide's tissue with spots coloured by its cohort domains and
    the legend (spots per domain) beside it; atomically (temporary file, then rename)."""
    from ..figure import _compose

    out = Path(out)
    panel = tissue_panel(adata, key, width_px=int(dpi * 5))
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.png")
    _compose(panel, ("categorical", key), adata, tmp, dpi=dpi, cmap=None, clim=None,
             title=title)
    os.replace(tmp, out)
    return out
