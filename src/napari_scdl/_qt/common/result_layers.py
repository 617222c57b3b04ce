"""Result layers: a copy of a sample's spots coloured by a result, replaced on re-run."""

from __future__ import annotations

import weakref

import numpy as np

from ...colors import paint_categorical, paint_values, sync_features
from ...layers import SPOTS_ROLE, spot_features

RESULT_ROLE = "result"


def result_layer(viewer, spots, key: str, *, name: str | None = None, translate=None,
                 refresh_features: bool = True):
    """The result layer for ``key`` of the sample behind ``spots`` (created if needed).

    An existing layer for the same sample and key is reused (re-runs replace, not add).
    """
    adata = spots.metadata["adata"]
    name = name or f"{spots.name.removesuffix(' spots')} · {key}"
    for ly in viewer.layers:
        if ly.metadata.get("scdl_role") == RESULT_ROLE and ly.metadata.get("adata") is adata \
                and ly.metadata.get("key") == key and ly.name == name:
            if refresh_features:
                _refresh_features(ly, adata, key)
            if translate is not None:
                ly.translate = translate
            return ly
    layer = viewer.add_points(
        np.asarray(spots.data), size=spots.size, name=name, features=spot_features(adata),
        symbol=spots.symbol, border_width=0.0, translate=translate if translate is not None else spots.translate,
        metadata={"adata": adata, "sample_id": spots.metadata.get("sample_id"),
                  "scdl_role": RESULT_ROLE, "key": key, "library_id": spots.metadata.get("library_id")},
    )
    if spots.metadata.get("scdl_role") == SPOTS_ROLE:
        spots.visible = False  # the result replaces the plain spots on screen
    _follow_zoom(viewer, spots.metadata.get("sample_id"))
    return layer


def _refresh_features(layer, adata, key: str) -> None:
    """Bring the layer's hover table up to date with ``obs``: when it still has the
    columns :func:`spot_features` would give, only ``key`` is rewritten in place (a new
    table at 1M spots costs ~0.1 s a switch); else the table is rebuilt."""
    from ...layers import feature_columns

    feats = layer.features
    if len(feats) == adata.n_obs and list(feats.columns) == ["barcode", *feature_columns(adata.obs)]:
        sync_features(layer, adata, [key])
        return
    layer.features = spot_features(adata)


#: from this many spots the layer-list thumbnail is redrawn once the switches pause
#: (150 ms) instead of at each switch (~20 ms of a 100 ms gene switch at 1M spots)
THUMBNAIL_LATER_SPOTS = 200_000

_THUMBNAIL_TIMERS: dict[int, object] = {}


def _thumbnail_later(layer, ms: int = 150) -> None:
    from qtpy.QtCore import QTimer

    timer = _THUMBNAIL_TIMERS.get(id(layer))
    if timer is None:
        timer = QTimer()
        timer.setSingleShot(True)
        ref = weakref.ref(layer)

        def update():
            ly = ref()
            _THUMBNAIL_TIMERS.pop(id(layer), None)
            if ly is not None:
                ly._update_thumbnail()

        timer.timeout.connect(update)
        _THUMBNAIL_TIMERS[id(layer)] = timer
    timer.start(ms)


def _follow_zoom(viewer, sample_id) -> None:
    """Cells of this sample: outlines in the result's colours when zoomed in (see
    :mod:`napari_scdl.zoom_switch`), wherever the sample's layers came from."""
    from ...layers import CELLS_ROLE
    from ...zoom_switch import install

    if any(ly.metadata.get("scdl_role") == CELLS_ROLE and ly.metadata.get("sample_id") == sample_id
           for ly in viewer.layers):
        install(viewer)


def show_categorical(viewer, spots, key: str, *, confidence_as_opacity: bool = False,
                     name: str | None = None, translate=None):
    """Show ``obs[key]`` as coloured spots; returns (layer, legend)."""
    adata = spots.metadata["adata"]
    layer = result_layer(viewer, spots, key, name=name, translate=translate)
    alpha = None
    conf = f"{key}_confidence"
    if confidence_as_opacity and conf in adata.obs:
        alpha = 0.15 + 0.85 * adata.obs[conf].to_numpy(dtype=float)
    big = len(layer.data) >= THUMBNAIL_LATER_SPOTS
    legend = paint_categorical(layer, adata, key, alpha=alpha, viewer=viewer, thumbnail=not big)
    if big:
        _thumbnail_later(layer)
    return layer, legend


def show_values(viewer, spots, values, key: str, *, cmap: str = "viridis", clim=None,
                name: str | None = None):
    """Show per-spot numbers (a gene, a confidence) through a colormap; returns (layer, clim)."""
    layer = result_layer(viewer, spots, key, name=name, refresh_features=False)
    big = len(layer.data) >= THUMBNAIL_LATER_SPOTS
    clim = paint_values(layer, values, cmap=cmap, clim=clim, name=key, viewer=viewer,
                        thumbnail=not big)
    if big:
        _thumbnail_later(layer)
    layer.metadata["clim"] = clim
    layer.metadata["cmap"] = cmap
    return layer, clim


def side_by_side(viewer, spots, keys: list[str], *, gap: float = 0.08) -> list:
    """Show ``obs[key]`` for each key next to each other, each over its own copy of the tissue.

    Returns the result layers, left to right. Re-running replaces the same layers.
    """
    from .samples import image_layers_of

    images = [ly for ly in image_layers_of(viewer, spots.metadata.get("sample_id")) if ly.visible]
    ext = (images[0] if images else spots).extent.world
    width = float(ext[1][1] - ext[0][1]) * (1 + gap)
    layers = []
    adata = spots.metadata["adata"]
    for ly in viewer.layers:  # single-result views of this sample would sit under panel 1
        if ly.metadata.get("scdl_role") == RESULT_ROLE and ly.metadata.get("adata") is adata:
            ly.visible = False
    for i, key in enumerate(keys):
        shift = np.array([0.0, i * width])
        if i and images:
            _image_copy(viewer, images[0], f"{images[0].name} · panel {i + 1}", shift)
        layer, _ = show_categorical(viewer, spots, key, name=f"{spots.name.removesuffix(' spots')} · panel {i + 1}: {key}",
                                    translate=shift)
        layer.visible = True
        layers.append(layer)
    viewer.reset_view()
    return layers


def _image_copy(viewer, image, name: str, shift):
    for ly in viewer.layers:
        if ly.name == name:
            ly.translate = np.asarray(image.translate) + shift
            return ly
    layer = viewer.add_image(image.data, rgb=image.rgb, scale=image.scale,
                             translate=np.asarray(image.translate) + shift, name=name,
                             metadata={"scdl_role": "image_copy", "sample_id": image.metadata.get("sample_id")})
    viewer.layers.move(viewer.layers.index(layer), 0)  # images under every spots layer
    return layer
