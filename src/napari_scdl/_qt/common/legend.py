"""A legend table: colour swatch, category name, number of spots."""

from __future__ import annotations

import pandas as pd
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


class LegendTable(QTableWidget):
    """Shows which colour is which category and how many spots it has."""

    def __init__(self, parent=None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["", "name", "spots"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumHeight(120)

    def set_legend(self, legend: dict[str, str], labels: pd.Series) -> None:
        counts = labels.astype(str).value_counts()
        self.setRowCount(len(legend))
        for i, (name, color) in enumerate(legend.items()):
            sw = QTableWidgetItem("   ")
            sw.setBackground(QColor(color))
            self.setItem(i, 0, sw)
            self.setItem(i, 1, QTableWidgetItem(str(name)))
            n = QTableWidgetItem(str(int(counts.get(name, 0))))
            self.setItem(i, 2, n)

    def rows(self) -> list[tuple[str, int]]:
        return [(self.item(i, 1).text(), int(self.item(i, 2).text())) for i in range(self.rowCount())]
