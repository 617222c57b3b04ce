"""Drawing on the tissue: polygons / lasso in a Shapes layer, and a spot paint brush.

Coordinates go world -> spots-layer data (row, col) -> ``rc_to_xy`` -> ``obsm['spatial']``
(x, y), so shapes land on the spots under them whatever the layers' transforms.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...annotations import geometry
from ...errors import ScdlError
from ...layers import rc_to_xy

SHAPES_ROLE = "annotation_shapes"
_ELLIPSE_VERTICES = 64


def shape_to_xy(shapes, spots, i: int) -> np.ndarray | None:
    """Vertices (x, y) of shape ``i`` of ``shapes`` in the sample's pixel space (None for
    lines and paths, which enclose nothing). Ellipses become 64-gons."""
    kind = shapes.shape_type[i]
    if kind in ("line", "path", "polyline"):
        return None
    v = np.asarray(shapes.data[i], dtype=float)[:, -2:]
    if kind == "ellipse":  # four corners of the (possibly rotated) bounding box
        c = v.mean(0)
        a, b = (v[1] - v[0]) / 2, (v[3] - v[0]) / 2
        t = np.linspace(0, 2 * np.pi, _ELLIPSE_VERTICES, endpoint=False)[:, None]
        v = c + np.cos(t) * a + np.sin(t) * b
    world = np.array([shapes.data_to_world(p) for p in v])
    return rc_to_xy(np.array([spots.world_to_data(p) for p in world])[:, -2:])


def world_to_xy(spots, position) -> np.ndarray:
    """A world position (mouse) as (x, y) in the sample's pixel space."""
    rc = np.asarray(spots.world_to_data(position), dtype=float)[-2:]
    return rc_to_xy(rc[None])[0]


class DrawTools(QWidget):
    """Tool buttons (polygon, lasso, rectangle, paint, erase), Assign / Erase inside, brush.

    ``owner`` is the Annotate widget: it provides ``viewer``, ``sample`` (its spots layer
    places the shapes), ``store``, ``column``, ``category``, ``category_color()``,
    ``selected_spots()``, ``clear_selection()`` and ``message()``.
    """

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.viewer = owner.viewer
        self.tools = QButtonGroup(self)
        self.tools.setExclusive(False)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        tips = {
            "polygon": ("Polygon", "click the corners, double-click to close (P)"),
            "lasso": ("Lasso", "drag around the region; release to close (Shift+P)"),
            "rectangle": ("Rectangle", "drag a box (R)"),
            "paint": ("Paint spots", "click or drag over spots to give them the category"),
            "erase": ("Erase spots", "click or drag over spots to unlabel them"),
        }
        for k, (name, (text, tip)) in enumerate(tips.items()):
            b = QPushButton(text)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.clicked.connect(lambda checked, n=name: self.set_tool(n if checked else None))
            self.buttons[name] = b
            grid.addWidget(b, k // 3, k % 3)
        self.brush = QSpinBox()
        self.brush.setRange(0, 10)
        self.brush.setToolTip("0: only the spot under the cursor; k: spots within k spot spacings")
        row = QHBoxLayout()
        self.assign_button = QPushButton("Assign")
        self.assign_button.setToolTip(
            "Give the spots inside the drawn shapes (and the selected spots) the chosen category"
        )
        self.erase_button = QPushButton("Erase inside")
        self.erase_button.setToolTip("Unlabel the spots inside the drawn shapes")
        self.auto = QCheckBox("assign when a shape is finished")
        self.auto.setChecked(True)
        row.addWidget(self.assign_button)
        row.addWidget(self.erase_button)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(grid, 0, 0)
        brush_row = QHBoxLayout()
        brush_row.addWidget(QLabel("brush size"))
        brush_row.addWidget(self.brush)
        brush_row.addWidget(self.auto)
        lay.addLayout(brush_row, 1, 0)
        lay.addLayout(row, 2, 0)
        self.assign_button.clicked.connect(lambda: self.assign_shapes())
        self.erase_button.clicked.connect(lambda: self.assign_shapes(erase=True))
        self._saved_pan: bool | None = None
        self._pending = False

    # -- the shapes layer ---------------------------------------------------------------
    def shapes_layer(self, create: bool = True):
        """The annotation Shapes layer of the current sample (created above the spots)."""
        spots = self.owner.sample.layer
        if spots is None:
            return None
        sid = spots.metadata.get("sample_id")
        for ly in self.viewer.layers:
            if ly.metadata.get("scdl_role") == SHAPES_ROLE and ly.metadata.get("sample_id") == sid:
                return ly
        if not create:
            return None
        size = float(np.asarray(spots.size).ravel()[0])
        layer = self.viewer.add_shapes(
            ndim=2,
            name=f"{spots.name.removesuffix(' spots')} · annotation shapes",
            translate=spots.translate,
            edge_width=max(size * 0.25, 1.0),
            metadata={"scdl_role": SHAPES_ROLE, "sample_id": sid},
        )
        self.set_color(self.owner.category_color(), layer)
        layer.events.data.connect(self._on_shape_event)
        return layer

    def set_color(self, color: str, layer=None) -> None:
        """Draw the next shapes in ``color`` (the chosen category's)."""
        layer = layer or self.shapes_layer(create=False)
        if layer is not None:
            layer.current_edge_color = color
            layer.current_face_color = color[:7] + "40"  # translucent fill

    def set_tool(self, name: str | None) -> None:
        """Activate a drawing tool (None: back to pan/zoom)."""
        for n, b in self.buttons.items():
            b.setChecked(n == name)
        self.tool = name
        self._set_brush(name in ("paint", "erase"))
        modes = {
            "polygon": "add_polygon",
            "lasso": "add_polygon_lasso",
            "rectangle": "add_rectangle",
        }
        shapes = self.shapes_layer(create=name in modes)
        if name in modes:
            self.viewer.layers.selection.active = shapes
            shapes.mode = modes[name]
            return
        if shapes is not None:
            shapes.mode = "pan_zoom"
        layer = self.owner.layer
        if name is not None and layer is not None:  # clicks paint, they don't select
            self.viewer.layers.selection.active = layer
            layer.mode = "pan_zoom"

    tool: str | None = None

    def _on_shape_event(self, event) -> None:
        if (
            getattr(event, "action", None) == "added"
            and self.auto.isChecked()
            and not self._pending
        ):
            from qtpy.QtCore import QTimer

            self._pending = True  # assign after napari has finished the shape
            QTimer.singleShot(0, self._auto_assign)

    def _auto_assign(self) -> None:
        self._pending = False
        self.assign_shapes()

    def polygons(self) -> list[np.ndarray]:
        """The closed shapes drawn so far as (x, y) polygons."""
        shapes, spots = self.shapes_layer(create=False), self.owner.sample.layer
        if shapes is None or spots is None:
            return []
        out = [shape_to_xy(shapes, spots, i) for i in range(shapes.nshapes)]
        return [p for p in out if p is not None and len(p) >= 3]

    def assign_shapes(self, *, erase: bool = False) -> int:
        """Give the spots inside the drawn shapes (and the spots selected in the annotation
        layer) the chosen category, or unlabel them; one undo step. Clears the shapes."""
        store, column, category = self.owner.store, self.owner.column, self.owner.category
        shapes = self.shapes_layer(create=False)
        selected = self.owner.selected_spots()
        polys = self.polygons()
        if not polys and not len(selected):
            self.owner.message("draw a shape around the spots first (Polygon or Lasso)")
            return 0
        try:
            if store is None or not column:
                raise ScdlError("create an annotation column first (New column)")
            if not erase and not category:
                raise ScdlError("add a category first (the + button)")
            n = 0
            with store.group("erase inside shapes" if erase else f"assign shapes to {category}"):
                for p in polys:
                    if erase:
                        n += store.erase(column, geometry.spots_in_polygon(store.adata, p))
                    else:
                        n += store.assign_polygon(column, p, category)
                if len(selected):
                    n += (
                        store.erase(column, selected)
                        if erase
                        else store.assign(column, selected, category)
                    )
        except ScdlError as err:
            self.owner.message(str(err), error=True)
            return 0
        if shapes is not None and shapes.nshapes:
            shapes.selected_data = set(range(shapes.nshapes))
            shapes.remove_selected()
        self.owner.clear_selection()
        verb = "unlabelled" if erase else f"labelled {category}:"
        self.owner.message(f"{verb} {n} spots changed (Ctrl+Z to undo)")
        return n

    # -- the paint brush ----------------------------------------------------------------
    def _set_brush(self, on: bool) -> None:
        cbs = self.viewer.mouse_drag_callbacks
        if on and self._brush not in cbs:
            cbs.append(self._brush)
            self._saved_pan = self.viewer.camera.mouse_pan
            self.viewer.camera.mouse_pan = False
        elif not on and self._brush in cbs:
            cbs.remove(self._brush)
            if self._saved_pan is not None:
                self.viewer.camera.mouse_pan = self._saved_pan

    def spots_under(self, position) -> np.ndarray:
        """Spots under the brush at a world ``position``."""
        spots = self.owner.sample.layer
        adata = spots.metadata["adata"]
        xy = world_to_xy(spots, position)
        diameter = float(np.asarray(spots.size).ravel()[0])
        k = self.brush.value()
        if k == 0:
            i = geometry.nearest_spot(adata, xy, max_distance=diameter / 2)
            return np.array([], int) if i is None else np.array([i])
        spacing = diameter / 0.55 if "array_row" in adata.obs else diameter / 0.9
        return geometry.spots_near(adata, xy, k * spacing)

    def paint(self, indices, *, erase: bool = False) -> int:
        """Label (or unlabel) spots by index with the chosen category."""
        store, column, category = self.owner.store, self.owner.column, self.owner.category
        if store is None or not column or (not erase and not category):
            self.owner.message("choose an annotation column and a category first", error=True)
            return 0
        idx = np.asarray(indices, dtype=int)
        if not len(idx):
            return 0
        return store.erase(column, idx) if erase else store.assign(column, idx, category)

    def _brush(self, viewer, event):
        if self.owner.sample.layer is None or self.tool not in ("paint", "erase"):
            return
        erase = self.tool == "erase"
        store = self.owner.store
        if store is None:
            return
        n = 0
        with store.group("erase spots" if erase else f"paint spots {self.owner.category}"):
            n += self.paint(self.spots_under(event.position), erase=erase)
            yield
            while event.type == "mouse_move":
                n += self.paint(self.spots_under(event.position), erase=erase)
                yield
        if n:
            self.owner.message(f"{'unlabelled' if erase else 'painted'} {n} spots (Ctrl+Z to undo)")
