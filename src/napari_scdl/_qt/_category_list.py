"""The category list of an annotation column: key, colour swatch, name, spot count."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
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
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents,
                                    QHeaderView.ResizeMode.ResizeToContents,
                                    QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.ResizeToContents)):
            hh.setSectionResizeMode(col, mode)
        self.setMinimumHeight(140)
        self.setToolTip("Select the category to draw with; select several to merge them; "
                        "double-click a colour to change it")
        self.itemSelectionChanged.connect(lambda: self.current_changed.emit(self.current))
        self.cellDoubleClicked.connect(self._double_clicked)

    def set_categories(self, rows: list[tuple[str, str, int]]) -> None:
        """Fill with (name, hex colour, count) rows, keeping the current choice if it remains."""
        keep = self.current
        self.blockSignals(True)
        self.setRowCount(len(rows))
        for i, (name, color, count) in enumerate(rows):
            key = QTableWidgetItem(str(i + 1) if i < 9 else "")
            sw = QTableWidgetItem("    ")
            sw.setBackground(QColor(color))
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
        return self.item(self.names().index(name), 1).background().color().name()

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
