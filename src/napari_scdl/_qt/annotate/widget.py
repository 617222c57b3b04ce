"""Dock widget "Annotate": label spots on the tissue, undo/redo, autosave, import/export.

Every edit goes through the sample's :class:`~napari_scdl.annotations.AnnotationStore`;
the annotation layer repaints on each store event, so edits made elsewhere (the review
widget, undo) show at once.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QKeySequence, QShortcut
from qtpy.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...annotations import AnnotationStore
from ...errors import ScdlError
from ..common.panel import PanelMixin, scroll_body
from ..common.runner import report_error
from ..common.samples import SampleSelector, categorical_columns
from ..common.store_link import switch_store
from .category_list import CategoryPanel
from .draw import DrawTools
from .files import AnnotationFiles
from .inspector import SpotInspector
from .layers import (
    annotation_layer,
    drop_deleted_columns,
    raise_to_top,
    show_annotation,
)


class AnnotationWidget(PanelMixin, QWidget):
    """Draw, paint and edit annotation columns of a sample; undo/redo; import/export."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.store: AnnotationStore | None = None
        self.sample = SampleSelector(napari_viewer)
        self.columns = QComboBox()
        self.columns.setToolTip("The annotation column being edited (e.g. pathology, review)")
        self.new_button = QPushButton("New column…")
        self.new_button.setToolTip("An empty column, or a copy of a result (e.g. domain) to fix")
        self.category_panel = CategoryPanel(self)
        self.categories = self.category_panel.list
        self.draw = DrawTools(self)
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.files = AnnotationFiles(self)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.inspector = SpotInspector(
            napari_viewer, lambda: self.layer or self.sample.layer, lambda: self.column
        )

        lay = QVBoxLayout(scroll_body(self))
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        row = QHBoxLayout()
        row.addWidget(QLabel("column"))
        row.addWidget(self.columns, 1)
        row.addWidget(self.new_button)
        lay.addLayout(row)
        lay.addWidget(QLabel("<b>Categories</b> (the selected one is drawn with)"))
        lay.addWidget(self.category_panel)
        lay.addWidget(QLabel("<b>Draw on the tissue</b>"))
        lay.addWidget(self.draw)
        row = QHBoxLayout()
        row.addWidget(self.undo_button)
        row.addWidget(self.redo_button)
        lay.addLayout(row)
        lay.addWidget(self.files)
        lay.addWidget(self.status)
        box = QGroupBox("Spot inspector (hover; click to pin)")
        QVBoxLayout(box).addWidget(self.inspector)
        lay.addWidget(box)
        lay.addStretch(1)

        self.sample.changed.connect(self._set_sample)
        self.columns.currentTextChanged.connect(lambda _: self.refresh(show=True))
        self.new_button.clicked.connect(self._ask_new_column)
        self.categories.current_changed.connect(lambda _: self._update_tools())
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        for seq, fn in (
            (QKeySequence.StandardKey.Undo, self.undo),
            (QKeySequence("Ctrl+Shift+Z"), self.redo),
        ):
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)
        self._bind_viewer_keys()
        self._set_sample(self.sample.layer)

    # -- state ------------------------------------------------------------------------------
    @property
    def column(self) -> str:
        return self.columns.currentText()

    @property
    def category(self) -> str:
        return self.categories.current

    @property
    def layer(self):
        """The result layer showing the current annotation column (or None)."""
        spots = self.sample.layer
        if spots is None or not self.column:
            return None
        return annotation_layer(self.viewer, spots.metadata["adata"], self.column)

    def category_color(self) -> str:
        if self.store is not None and self.column and self.category:
            return self.store.colors(self.column).get(self.category, "#ffff00")
        return "#ffff00"

    def message(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e06666" if error else "")

    def selected_spots(self) -> np.ndarray:
        """Spots selected with napari's selection tool in the annotation layer."""
        return np.array(sorted(self.layer.selected_data if self.layer else ()), dtype=int)

    def clear_selection(self) -> None:
        if self.layer is not None:
            self.layer.selected_data = set()

    # -- sample, column, refresh ----------------------------------------------------------
    def _set_sample(self, layer) -> None:
        self.store = switch_store(
            self.store, layer, self._on_store_event, lambda m: self.message(m, error=True)
        )
        self._refresh_columns()
        self.refresh(show=True)
        if self.store is not None and self.store.columns:
            self.message(f"restored annotation columns {self.store.columns} from {self.store.path}")

    def _refresh_columns(self, choose: str | None = None) -> None:
        names = self.store.columns if self.store is not None else []
        keep = choose if choose in names else self.column
        self.columns.blockSignals(True)
        self.columns.clear()
        self.columns.addItems(names)
        if keep in names:
            self.columns.setCurrentText(keep)
        self.columns.blockSignals(False)

    def set_column(self, name: str) -> None:
        self._refresh_columns(choose=name)
        self.refresh(show=True)

    def _on_store_event(self, ev) -> None:
        if ev.kind == "save_failed":
            self.message(f"autosave failed: {ev.text}", error=True)
            return
        if ev.kind in ("columns", "loaded"):
            self._refresh_columns(choose=ev.column if ev.kind == "columns" else None)
        if ev.column in (None, self.column) or ev.kind in ("columns", "loaded"):
            self.refresh(show=ev.kind in ("columns", "loaded"))
        # the store records the edit on its undo stack after notifying: look again later
        QTimer.singleShot(0, self._update_tools)

    def refresh(self, *, show: bool = False) -> None:
        """Repaint the annotation layer and the category list from the store."""
        store, column, spots = self.store, self.column, self.sample.layer
        if store is not None:
            drop_deleted_columns(self.viewer, store.adata, store.columns)
        if store is None or not column or column not in store.columns or spots is None:
            self.categories.set_categories([])
            self._update_tools()
            return
        colors, counts = store.colors(column), store.counts(column)
        self.categories.set_categories([(c, colors[c], int(counts.get(c, 0))) for c in colors])
        show_annotation(self.viewer, spots, column, repaint_only=not show)
        if show:  # keep the drawing above the coloured spots
            raise_to_top(self.viewer, self.draw.shapes_layer(create=False))
        self._update_tools()
        self.inspector.refresh()

    def _update_tools(self) -> None:
        store = self.store
        self.undo_button.setEnabled(bool(store and store.can_undo))
        self.redo_button.setEnabled(bool(store and store.can_redo))
        self.undo_button.setToolTip(
            f"Undo {store.undo_text} (Ctrl+Z)" if store and store.can_undo else ""
        )
        self.redo_button.setToolTip(
            f"Redo {store.redo_text} (Ctrl+Shift+Z)" if store and store.can_redo else ""
        )
        self.draw.assign_button.setText(f"Assign to {self.category}" if self.category else "Assign")
        self.draw.set_color(self.category_color())

    # -- edits (the buttons and dialogs call these) ----------------------------------------
    def _need(self) -> AnnotationStore:
        if self.store is None or not self.column:
            raise ScdlError("create an annotation column first (New column…)")
        return self.store

    def new_column(self, name: str, *, from_key: str | None = None) -> None:
        """Create an annotation column (empty, or a copy of ``obs[from_key]``) and show it."""
        if self.store is None:
            raise ScdlError("open a sample first")
        self.store.create_column(name, from_key=from_key)
        self.set_column(name)

    def add_category(self, name: str, color=None) -> None:
        self._need().add_category(self.column, name, color=color)
        self.categories.select(name)

    def rename_category(self, old: str, new: str) -> None:
        self._need().rename_category(self.column, old, new)
        self.categories.select(new)

    def recolor_category(self, name: str, color) -> None:
        self._need().recolor_category(self.column, name, color)

    def merge_categories(self, names: list[str], into: str) -> int:
        n = self._need().merge_categories(self.column, names, into)
        self.categories.select(into)
        return n

    def delete_category(self, name: str) -> int:
        if not name:
            raise ScdlError("select the category to delete")
        n = self._need().delete_category(self.column, name)
        self.message(f"deleted {name}; {n} spots unlabelled (Ctrl+Z to undo)")
        return n

    def undo(self) -> str | None:
        text = self.store.undo() if self.store is not None else None
        self._update_tools()
        self.message(f"undone: {text}" if text else "nothing to undo")
        return text

    def redo(self) -> str | None:
        text = self.store.redo() if self.store is not None else None
        self._update_tools()
        self.message(f"redone: {text}" if text else "nothing to redo")
        return text

    def _bind_viewer_keys(self) -> None:
        from app_model.types import KeyCode, KeyMod

        z = KeyMod.CtrlCmd | KeyCode.KeyZ
        self.viewer.bind_key(z, lambda _v: self.undo(), overwrite=True)
        self.viewer.bind_key(z | KeyMod.Shift, lambda _v: self.redo(), overwrite=True)

    # -- dialogs ----------------------------------------------------------------------------
    def guard(self, what: str, fn) -> None:
        """Run ``fn``; show an error to the user instead of raising."""
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.message(report_error(err, what), error=True)

    def _ask_new_column(self) -> None:
        if self.store is None:
            return
        sources = ["(empty)"] + [
            c for c in categorical_columns(self.store.adata) if c not in self.store.columns
        ]
        src, ok = QInputDialog.getItem(
            self, "New annotation column", "start from", sources, 0, False
        )
        if not ok:
            return
        default = "pathology" if src == "(empty)" else f"{src}_reviewed"
        name, ok = QInputDialog.getText(self, "New annotation column", "name", text=default)
        if ok and name.strip():
            self.guard(
                "new column",
                lambda: self.new_column(name.strip(), from_key=None if src == "(empty)" else src),
            )

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.inspector.close_callbacks()
        self.draw.set_tool(None)
        if self.store is not None:
            self.store.events.disconnect(self._on_store_event)
        super().closeEvent(event)
