"""Small Qt models shared by the marker panel: a self-refreshing combo, a DataFrame table."""

from __future__ import annotations

import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt
from qtpy.QtWidgets import QComboBox

SHOWN = ["group", "gene", "log2fc", "pct_in", "pct_out", "pval_adj"]
SORT_ROLE = Qt.ItemDataRole.UserRole


class RefreshingCombo(QComboBox):
    """A combo box that asks for its items again each time it opens (new results appear)."""

    def __init__(self, items_fn, parent=None) -> None:
        super().__init__(parent)
        self.items_fn = items_fn

    def refresh(self) -> None:
        current = self.currentText()
        items = list(self.items_fn())
        if items == [self.itemText(i) for i in range(self.count())]:
            return
        self.blockSignals(True)
        self.clear()
        self.addItems(items)
        if current in items:
            self.setCurrentIndex(items.index(current))
        self.blockSignals(False)
        if self.currentText() != current:
            self.currentIndexChanged.emit(self.currentIndex())

    def showPopup(self) -> None:  # noqa: N802 - Qt name
        self.refresh()
        super().showPopup()


class FrameModel(QAbstractTableModel):
    """A read-only pandas DataFrame for a QTableView; numbers sort as numbers."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.df = pd.DataFrame(columns=SHOWN)

    def set_frame(self, df: pd.DataFrame) -> None:
        self.beginResetModel()
        self.df = df[SHOWN].reset_index(drop=True)
        self._cols = [self.df[c].to_numpy() for c in SHOWN]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.df)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(SHOWN)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        v = self._cols[index.column()][index.row()]
        if role == SORT_ROLE:
            return float(v) if index.column() >= 2 else str(v)
        if role == Qt.ItemDataRole.DisplayRole:
            name = SHOWN[index.column()]
            if name == "pval_adj":
                return f"{v:.1e}"
            if name.startswith("pct"):
                return f"{100 * v:.0f}%"
            return f"{v:.2f}" if name == "log2fc" else str(v)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return SHOWN[section]
        return None
