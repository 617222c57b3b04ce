"""Cells as polygon outlines when zoomed in, as cheap markers when zoomed out (no Qt).

A sample with cell boundaries (Xenium, a SpatialData polygons region) opens with a Shapes
layer of outlines and a Points layer of markers (one disc per cell) coloured by the result
shown. Outlines are only readable, and only worth drawing, once a cell is a few screen
pixels across; zoomed out, thousands of polygons are noise and cost frames. A
:class:`ZoomSwitch` follows ``viewer.camera.events.zoom`` (debounced) and shows

- the **outlines**, painted in the colours of the markers layer on screen, when the median
  cell is at least ``min_cell_px`` screen pixels across (``camera.zoom`` is screen pixels
  per world unit, the layers' unit is the sample's pixel), the markers hidden;
- the **markers** otherwise (the layer that was on screen), the outlines hidden.

The colours follow the markers: a new result layer, or a repaint of the one shown (a
re-run, another gene), repaints the outlines. :func:`install` attaches a switch to every
outlines layer a viewer gets (the reader and the result layers call it);
:func:`set_enabled` turns it off (both layers shown, as without it) and on again.
"""

from __future__ import annotations

import logging
import weakref

import numpy as np

from .layers import CELLS_ROLE, SPOTS_ROLE, _obs_rows

logger = logging.getLogger(__name__)

#: outlines once the median cell is this many screen pixels across
MIN_CELL_PX = 12.0
DEBOUNCE_MS = 120
OUTLINE_COLOR = (1.0, 1.0, 1.0, 0.69)  # the unpainted outline (cell_layers' #ffffffb0)
FILL_ALPHA = 0.18  # outlines are filled faintly in their colour: the cell reads as a cell

_VIEWERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unwrap(obj):
    """The napari object behind a plugin's ``PublicOnlyProxy`` (or the object itself)."""
    return getattr(obj, "__wrapped__", obj)


def _debounced(fn, ms: int):
    """``fn`` debounced by ``ms`` on the Qt event loop when there is one, else ``fn``."""
    try:
        from qtpy.QtWidgets import QApplication
        from superqt.utils import qdebounced
    except ImportError:  # pragma: no cover - napari ships both
        return fn
    if QApplication.instance() is None:
        return fn
    return qdebounced(fn, timeout=ms)


def cell_size(layer, *, sample: int = 2000) -> float:
    """Median side (world units) of the outlines' bounding boxes (a sample of them)."""
    data = layer.data
    if not len(data):
        return 0.0
    step = max(1, len(data) // sample)
    sides = [float(np.ptp(np.asarray(p)[:, -2:], axis=0).max()) for p in data[::step]]
    scale = float(np.abs(np.asarray(layer.scale)[-2:]).max())
    return float(np.median(sides)) * scale


class ZoomSwitch:
    """Show ``outlines`` (a Shapes layer of :func:`napari_scdl.layers.cell_layers`) when
    zoomed in and its sample's markers (Points) when zoomed out; see the module doc."""

    def __init__(self, viewer, outlines, *, min_cell_px: float = MIN_CELL_PX,
                 debounce_ms: int = DEBOUNCE_MS, enabled: bool = True) -> None:
        self.viewer = _unwrap(viewer)
        self.outlines = _unwrap(outlines)
        self.sample_id = self.outlines.metadata.get("sample_id")
        self.min_cell_px = float(min_cell_px)
        self.enabled = enabled
        self.mode: str | None = None  # "outlines" | "markers" (None before the first update)
        self.shown = None  # the markers layer on screen when zoomed out / painting outlines
        self.painted_from = None
        self._cell = cell_size(self.outlines)
        self._busy = False
        self._rows_key = None
        self._painted_key = None
        self._rows_cache = np.zeros(0, int)
        self._watched: set[int] = set()
        self.schedule = _debounced(self.update, debounce_ms)
        self.viewer.camera.events.zoom.connect(self._on_zoom)
        self.viewer.layers.events.inserted.connect(self._on_inserted)
        self.viewer.layers.events.removed.connect(self._on_removed)
        for ly in self.markers():
            self._watch(ly)

    # -- what is on screen -------------------------------------------------------------
    def cell_px(self) -> float:
        """Screen pixels across the median cell at the current zoom."""
        return self._cell * float(self.viewer.camera.zoom)

    def wanted(self) -> str:
        return "outlines" if self.cell_px() >= self.min_cell_px else "markers"

    def markers(self) -> list:
        """The sample's Points layers drawn where the outlines are (its spots layer and its
        result layers; side-by-side panel copies, shifted, are left alone), bottom first."""
        from napari.layers import Points

        out = []
        for ly in self.viewer.layers:
            meta = ly.metadata
            if isinstance(ly, Points) and meta.get("adata") is not None \
                    and meta.get("sample_id") == self.sample_id \
                    and not np.any(np.asarray(ly.translate)):
                out.append(ly)
        return out

    # -- switching -----------------------------------------------------------------------
    def update(self, *_) -> str | None:
        """Show outlines or markers for the current zoom (and repaint the outlines)."""
        if not self.enabled or self.outlines not in self.viewer.layers:
            return None
        markers = self.markers()
        visible = [ly for ly in markers if ly.visible]
        if visible:  # the topmost one on screen is what the user looks at now
            self.shown = visible[-1]
        elif self.shown not in markers:
            self.shown = markers[-1] if markers else None
        want = self.wanted()
        self._busy = True
        try:
            if want == "outlines":
                self.paint()
                for ly in visible:
                    ly.visible = False
                self.outlines.visible = True
            else:
                if self.shown is not None:
                    self.shown.visible = True
                self.outlines.visible = False
        finally:
            self._busy = False
        if want != self.mode:
            logger.debug("cells at %.1f screen px: %s", self.cell_px(), want)
        self.mode = want
        return want

    def paint(self) -> None:
        """Colour the outlines like the markers layer :attr:`shown` (white when it shows
        no result)."""
        src = self.shown
        n = len(self.outlines.data)
        if src is None or not n:
            return
        unpainted = src.metadata.get("scdl_role") == SPOTS_ROLE and not src.metadata.get("painted_by")
        face = np.asarray(src.face_color, dtype=np.float32)
        key = (id(src), unpainted, n, hash(face.tobytes()))
        if key == self._painted_key:  # same colours: repainting polygons costs seconds
            return
        self._painted_key = key
        if unpainted or face.ndim != 2 or len(face) == 0:
            edge = np.tile(np.asarray(OUTLINE_COLOR, np.float32), (n, 1))
            fill = np.zeros((n, 4), np.float32)
        else:
            rows = self._rows(src)
            ok = (rows >= 0) & (rows < len(face))
            edge = np.tile(np.asarray([0.5, 0.5, 0.5, 0.5], np.float32), (n, 1))
            edge[ok] = face[rows[ok]]
            edge[:, 3] = np.maximum(edge[:, 3], 0.35)  # confidence-as-opacity stays visible
            fill = edge.copy()
            fill[:, 3] *= FILL_ALPHA
        self.outlines.edge_color = edge
        self.outlines.face_color = fill
        self.outlines.metadata["painted_by"] = src.metadata.get("painted_by") or ""
        self.painted_from = src

    def _rows(self, src) -> np.ndarray:
        adata = src.metadata["adata"]
        key = (id(adata), adata.n_obs)
        if self._rows_key != key:
            self._rows_cache = _obs_rows(adata, self.outlines.metadata["instance_ids"])
            self._rows_key = key
        return self._rows_cache

    def set_enabled(self, enabled: bool) -> None:
        """Off: outlines and the markers both shown, as without the switch. On: follow
        the zoom again."""
        self.enabled = bool(enabled)
        if self.enabled:
            self.update()
            return
        self._busy = True
        try:
            self.outlines.visible = True
            if self.shown is not None and self.shown in self.viewer.layers:
                self.shown.visible = True
        finally:
            self._busy = False
        self.mode = None

    def disconnect(self) -> None:
        self.viewer.camera.events.zoom.disconnect(self._on_zoom)
        self.viewer.layers.events.inserted.disconnect(self._on_inserted)
        self.viewer.layers.events.removed.disconnect(self._on_removed)
        for ly in self.markers():
            self._unwatch(ly)

    # -- events --------------------------------------------------------------------------
    def _on_zoom(self, *_) -> None:
        if self.enabled and self.wanted() != self.mode:
            self.schedule()

    def _on_inserted(self, event) -> None:
        ly = event.value
        if ly in self.markers():
            self._watch(ly)
            self.schedule()

    def _on_removed(self, event) -> None:
        ly = event.value
        if ly is self.outlines:
            self.disconnect()
            return
        self._unwatch(ly)
        if ly is self.shown:
            self.shown = None

    def _watch(self, ly) -> None:
        if id(ly) in self._watched:
            return
        self._watched.add(id(ly))
        ly.events.visible.connect(self._on_visible)
        ly.events.face_color.connect(self._on_repaint)  # repainted (shown or hidden)
        ly.events.thumbnail.connect(self._on_repaint)  # repainted in place (set_face_colors)

    def _unwatch(self, ly) -> None:
        if id(ly) not in self._watched:
            return
        self._watched.discard(id(ly))
        ly.events.visible.disconnect(self._on_visible)
        ly.events.face_color.disconnect(self._on_repaint)
        ly.events.thumbnail.disconnect(self._on_repaint)

    def _on_visible(self, event) -> None:
        if self._busy or not self.enabled or self.mode != "outlines":
            return
        if getattr(event.source, "visible", False):  # a markers layer shown while zoomed in
            self.schedule()

    def _on_repaint(self, event) -> None:
        if self._busy or not self.enabled or self.mode != "outlines":
            return
        if event.source is self.painted_from or self.painted_from is None:
            self.schedule()


def _is_outlines(layer) -> bool:
    return layer.metadata.get("scdl_role") == CELLS_ROLE and "instance_ids" in layer.metadata


class _ViewerSwitches:
    def __init__(self, viewer, options: dict) -> None:
        self.viewer = viewer
        self.options = options
        self.switches: dict[int, ZoomSwitch] = {}
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        for ly in list(viewer.layers):
            self.add(ly)

    def add(self, layer) -> ZoomSwitch | None:
        if not _is_outlines(layer) or id(layer) in self.switches:
            return self.switches.get(id(layer))
        sw = ZoomSwitch(self.viewer, layer, **self.options)
        self.switches[id(layer)] = sw
        sw.schedule()
        return sw

    def _on_inserted(self, event) -> None:
        self.add(event.value)

    def _on_removed(self, event) -> None:
        self.switches.pop(id(event.value), None)


def install(viewer, **options) -> list[ZoomSwitch]:
    """Attach a :class:`ZoomSwitch` to every outlines layer ``viewer`` has or gets
    (idempotent; ``options`` go to new switches). Returns the switches."""
    viewer = _unwrap(viewer)
    vs = _VIEWERS.get(viewer)
    if vs is None:
        vs = _VIEWERS[viewer] = _ViewerSwitches(viewer, options)
    return list(vs.switches.values())


def switches(viewer) -> list[ZoomSwitch]:
    """The zoom switches of ``viewer`` (empty when none is installed)."""
    vs = _VIEWERS.get(_unwrap(viewer))
    return list(vs.switches.values()) if vs is not None else []


def set_enabled(viewer, enabled: bool) -> int:
    """Turn the zoom switching of ``viewer``'s cells off (both outlines and markers shown)
    or on; new outlines layers follow the same choice. Returns the switches changed."""
    vs = _VIEWERS.get(_unwrap(viewer))
    if vs is None:
        if not enabled:
            return 0
        install(viewer)
        vs = _VIEWERS[_unwrap(viewer)]
    vs.options["enabled"] = bool(enabled)
    for sw in vs.switches.values():
        sw.set_enabled(enabled)
    return len(vs.switches)


def enabled(viewer) -> bool:
    """Whether ``viewer``'s cells switch between outlines and markers with the zoom."""
    vs = _VIEWERS.get(_unwrap(viewer))
    return vs is not None and vs.options.get("enabled", True)
