"""Colour a spots layer by a category or a value (the one place widgets paint spots)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# scanpy's default 20-colour palette (vega category20), then godsnot-like extras
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#279e68", "#d62728", "#aa40fc", "#8c564b", "#e377c2", "#b5bd61",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5", "#ad494a", "#8c6d31", "#393b79", "#637939", "#7b4173", "#a55194",
]


def category_colors(adata, key: str) -> dict[str, str]:
    """Category -> hex colour, from ``uns[f"{key}_colors"]`` (scanpy convention) or the palette."""
    col = adata.obs[key]
    cats = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else sorted(
        col.dropna().astype(str).unique())
    stored = adata.uns.get(f"{key}_colors")
    if stored is not None and len(stored) >= len(cats):
        colors = [str(c) for c in stored[: len(cats)]]
    else:
        colors = [_PALETTE[i % len(_PALETTE)] for i in range(len(cats))]
    return dict(zip(map(str, cats), colors, strict=True))


def _hex_to_rgba(colors: list[str]) -> np.ndarray:
    from matplotlib.colors import to_rgba_array

    return to_rgba_array(colors).astype(np.float32)


def paint_categorical(layer, adata, key: str, *, alpha: np.ndarray | float | None = None,
                      missing=(0.6, 0.6, 0.6, 0.35)) -> dict[str, str]:
    """Colour spots by the categorical ``obs[key]``; returns the legend (category -> colour).

    ``alpha`` (per spot or scalar) sets opacity, e.g. the confidence of a result.
    """
    col = adata.obs[key].astype("category")
    legend = category_colors(adata, key)
    lut = _hex_to_rgba(list(legend.values())) if legend else np.zeros((0, 4), np.float32)
    codes = col.cat.codes.to_numpy()
    rgba = np.empty((len(codes), 4), dtype=np.float32)
    rgba[:] = missing
    ok = codes >= 0
    rgba[ok] = lut[codes[ok]]
    if alpha is not None:
        rgba[:, 3] = np.clip(np.nan_to_num(np.asarray(alpha, dtype=np.float32), nan=0.0), 0, 1)
    layer.face_color = rgba
    layer.metadata["painted_by"] = key
    return legend


def paint_values(layer, values: np.ndarray, *, cmap: str = "viridis",
                 clim: tuple[float, float] | None = None, name: str = "value") -> tuple[float, float]:
    """Colour spots by a numeric value through a colormap; returns the contrast limits used."""
    from napari.utils.colormaps import ensure_colormap

    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    if clim is None:
        lo, hi = (float(np.nanmin(v)), float(np.nanmax(v))) if finite.any() else (0.0, 1.0)
        clim = (lo, hi if hi > lo else lo + 1.0)
    lo, hi = clim
    t = np.clip((np.nan_to_num(v, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    rgba = ensure_colormap(cmap).map(t).astype(np.float32)
    rgba[~finite, 3] = 0.2
    layer.face_color = rgba
    layer.metadata["painted_by"] = name
    return (float(lo), float(hi))


def sync_features(layer, adata, columns: list[str]) -> None:
    """Copy ``obs`` columns into the layer's features (for hover/inspection)."""
    feats = layer.features.copy()
    for c in columns:
        if c in adata.obs:
            feats[c] = adata.obs[c].to_numpy()
    layer.features = feats
