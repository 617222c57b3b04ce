"""Open a napari viewer on a sample with the plugin's widgets docked."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

PLUGIN = "napari-scdl"


def widget_names() -> list[str]:
    """Display names of the plugin's dock widgets, in manifest order."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest(PLUGIN)
    return [w.display_name for w in (manifest.contributions.widgets or [])]


def add_sample(viewer, adata) -> list:
    """Add one sample's image and spots layers to ``viewer``; returns the layers added."""
    from .. import zoom_switch
    from ..layers import adata_to_layers

    added = []
    for data, kwargs, kind in adata_to_layers(adata):
        added.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
    zoom_switch.install(viewer)  # cells: outlines when zoomed in, markers when zoomed out
    return added


def open_viewer(path: str | Path | None = None, *, adata=None, widgets: bool = True,
                show: bool = True, viewer=None):
    """A viewer showing ``path`` / ``adata`` (or the synthetic sample) with the widgets docked.

    The data is read before any window opens, so a bad path fails with its message first.
    """
    import napari

    from .._reader import prefer_scdl_reader

    prefer_scdl_reader()  # File > Open on our folders picks napari-scdl from now on
    if adata is None:
        if path is None:
            from ..datasets import synthetic_visium

            adata = synthetic_visium(2000, n_domains=5, seed=0)
        else:
            from ..io import read

            adata = read(path)
    viewer = viewer or napari.Viewer(show=show, title="napari-scdl")
    add_sample(viewer, adata)
    if widgets:
        dock = None
        for name in widget_names():
            d, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=dock is not None)
            dock = dock or d
        if dock is not None:  # show the first panel (domains) once Qt has tabified them all
            from qtpy.QtWidgets import QApplication

            QApplication.processEvents()
            dock.raise_()
    viewer.reset_view()
    if show:  # fit again once the window and its docks have their final size: fitted to
        # the canvas before the docks took their room, an image-free sample's outer spots
        # were cut off by the view (issue 12)
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, viewer.reset_view)
    return viewer
