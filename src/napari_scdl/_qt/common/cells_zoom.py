"""Layers > Visualize > "Cells: outlines when zoomed in (on/off)" (napari.yaml): turns the
zoom switch of :mod:`napari_scdl.zoom_switch` off (outlines and markers both shown) or on."""

from __future__ import annotations

from napari.viewer import Viewer


def toggle_cells_by_zoom(viewer: Viewer) -> bool:
    """Flip the switching of ``viewer``'s cells between outlines and markers; returns
    whether it is now on (and says so in a notification)."""
    from napari.utils.notifications import show_info

    from ...zoom_switch import MIN_CELL_PX, enabled, set_enabled

    on = not enabled(viewer)
    n = set_enabled(viewer, on)
    what = (f"cells: outlines once a cell is {MIN_CELL_PX:g} screen pixels across, markers "
            "when zoomed out" if on else "cells: outlines and markers both shown at every zoom")
    show_info(what + ("" if n else " (no sample with cell outlines is open yet)"))
    return on
