"""``napari-scdl view [PATH]``: open napari on a sample with the plugin's widgets docked."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import add_reader_options, read_input


def add_parser(sub) -> None:
    p = sub.add_parser(
        "view",
        help="open napari on a sample (or the built-in sample) with the widgets",
        description="Open napari on PATH (a Space Ranger, Visium HD or Xenium folder, a "
        "SpatialData .zarr store or an .h5ad file), or on the "
        "built-in synthetic sample when PATH is omitted, with the napari-scdl widgets docked. "
        "Without a display, run it under a virtual one: xvfb-run -a napari-scdl view PATH "
        "--screenshot view.png",
    )
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="Space Ranger, Visium HD or Xenium folder, SpatialData .zarr or .h5ad")
    add_reader_options(p)
    p.add_argument("--no-widgets", action="store_true", help="do not dock the plugin widgets")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save a screenshot of the window to PNG and quit (for headless use)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
        print("napari-scdl view: no display found; run it under a virtual display, e.g.\n"
              "  xvfb-run -a napari-scdl view PATH --screenshot view.png", file=sys.stderr)
        return 2
    adata = read_input(args.path, args) if args.path else None  # a bad path fails first
    import napari

    from .._qt.launch import open_viewer

    viewer = open_viewer(adata=adata, widgets=not args.no_widgets, show=True)
    from ..zoom_switch import install

    install(viewer)  # cells: outlines when zoomed in, markers when zoomed out
    viewer.window._qt_window.resize(1500, 950)
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        for _ in range(5):
            QApplication.processEvents()
        viewer.window.screenshot(args.screenshot, canvas_only=False)
        print(f"saved {args.screenshot}")
        viewer.close()
        return 0
    napari.run()
    return 0
