"""The category list of an annotation column (key, colour swatch, name, spot count) and
its Add / Rename / Colour / Merge / Delete buttons."""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class CategoryList(QTableWidget):
    """One row per category; the selected row is the category that drawing assigns.

    Column 0 is the number key that labels a spot with this category in the review queue
    (1..9), column 1 the colour (double-click to change), then name and spot count.
    """

    current_changed = Signal(str)  # the chosen category ('' when none)
    recolor_requested = Signal(str)  # double-click on a swatch

    def __init__(self, parent=None) -> None:
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["key", "", "category", "spots"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        hh = self.horizontalHeader()
        for col, mode in enumerate(
            (
                QHeaderView.ResizeMode.ResizeToContents,
                QHeaderView.ResizeMode.ResizeToContents,
                QHeaderView.ResizeMode.Stretch,
                QHeaderView.ResizeMode.ResizeToContents,
            )
        ):
            hh.setSectionResizeMode(col, mode)
        self.setMinimumHeight(140)
        self.setToolTip(
            "Select the category to draw with; select several to merge them; "
            "double-click a colour to change it"
        )
        self.itemSelectionChanged.connect(lambda: self.current_changed.emit(self.current))
        self.cellDoubleClicked.connect(self._double_clicked)

    def set_categories(self, rows: list[tuple[str, str, int]]) -> None:
        """Fill with (name, hex colour, count) rows, keeping the current choice if it remains."""
        keep = self.current
        self.blockSignals(True)
        self.setRowCount(len(rows))
        for i, (name, color, count) in enumerate(rows):
            key = QTableWidgetItem(str(i + 1) if i < 9 else "")
            sw = QTableWidgetItem("")
            sw.setData(Qt.ItemDataRole.DecorationRole, QColor(color))  # visible when selected
            sw.setData(Qt.ItemDataRole.UserRole, str(color))
            sw.setToolTip(f"{color} (double-click to change)")
            self.setItem(i, 0, key)
            self.setItem(i, 1, sw)
            self.setItem(i, 2, QTableWidgetItem(str(name)))
            self.setItem(i, 3, QTableWidgetItem(str(int(count))))
        names = self.names()
        row = names.index(keep) if keep in names else (0 if names else -1)
        self.clearSelection()
        if row >= 0:
            self.selectRow(row)
        self.blockSignals(False)
        self.current_changed.emit(self.current)

    def names(self) -> list[str]:
        return [self.item(i, 2).text() for i in range(self.rowCount())]

    def counts(self) -> dict[str, int]:
        return {self.item(i, 2).text(): int(self.item(i, 3).text()) for i in range(self.rowCount())}

    def color_of(self, name: str) -> str:
        return str(self.item(self.names().index(name), 1).data(Qt.ItemDataRole.UserRole))

    @property
    def current(self) -> str:
        """The category drawing assigns (first selected row), or ''."""
        rows = self.selected_names()
        return rows[0] if rows else ""

    def selected_names(self) -> list[str]:
        rows = sorted({ix.row() for ix in self.selectedIndexes()})
        return [self.item(r, 2).text() for r in rows if self.item(r, 2) is not None]

    def select(self, name: str) -> None:
        names = self.names()
        if name in names:
            self.clearSelection()
            self.selectRow(names.index(name))

    def _double_clicked(self, row: int, col: int) -> None:
        if col == 1 and self.item(row, 2) is not None:
            self.recolor_requested.emit(self.item(row, 2).text())


class CategoryPanel(QWidget):
    """The category list with Add / Rename / Colour / Merge / Delete buttons and dialogs.

    ``owner`` (the Annotate widget) makes the edits: ``add_category``, ``rename_category``,
    ``recolor_category``, ``merge_categories``, ``delete_category``, ``message``, ``guard``.
    """

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.list = CategoryList()
        self.buttons = {}
        row = QHBoxLayout()
        for name, tip, slot in (
            ("Add…", "a new category", self._ask_add),
            ("Rename…", "rename the selected category", self._ask_rename),
            ("Colour…", "change the selected category's colour", self._ask_recolor),
            ("Merge…", "merge the selected categories (Ctrl+click) into one", self._ask_merge),
            ("Delete", "remove the selected category; its spots become unlabelled", self._delete),
        ):
            b = QPushButton(name)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            self.buttons[name] = b
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        lay.addLayout(row)
        self.list.recolor_requested.connect(self._ask_recolor)

    def _ask_add(self) -> None:
        name, ok = QInputDialog.getText(self, "Add category", "name (e.g. Tumour, Stroma)")
        if ok and name.strip():
            self.owner.guard("add category", lambda: self.owner.add_category(name.strip()))

    def _ask_rename(self) -> None:
        old = self.list.current
        if not old:
            return
        new, ok = QInputDialog.getText(self, "Rename category", f"new name for {old}", text=old)
        if ok and new.strip() and new.strip() != old:
            self.owner.guard("rename", lambda: self.owner.rename_category(old, new.strip()))

    def _ask_recolor(self, name: str | None = None) -> None:
        name = name or self.list.current
        if not name:
            return
        color = QColorDialog.getColor(QColor(self.list.color_of(name)), self, f"Colour of {name}")
        if color.isValid():
            self.owner.guard("recolour", lambda: self.owner.recolor_category(name, color.name()))

    def _ask_merge(self) -> None:
        names = self.list.selected_names()
        if len(names) < 2:
            self.owner.message("select two or more categories (Ctrl+click) to merge them")
            return
        into, ok = QInputDialog.getItem(
            self, "Merge categories", f"merge {', '.join(names)} into", names, 0, True
        )
        if ok and into.strip():
            self.owner.guard("merge", lambda: self.owner.merge_categories(names, into.strip()))

    def _delete(self) -> None:
        self.owner.guard("delete", lambda: self.owner.delete_category(self.list.current))
