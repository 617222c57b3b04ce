"""Explain a category: DE genes beside the classifier's permutation-important genes."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QComboBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...errors import ScdlError
from ...models import Progress
from ..common.runner import Runner, report_error

COLUMNS = ["gene", "found by", "log2 FC", "importance"]


class ExplainPanel(QWidget):
    """Category chooser, an Explain runner and the gene table.

    ``owner`` provides ``store``, ``column``, ``seed`` (a magicgui SpinBox), ``message()``.
    """

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.category = QComboBox()
        self.category.setToolTip("The category to explain (from the annotation column)")
        self.runner = Runner("Explain")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(120)
        self.table.setToolTip(
            "found by DE: differential expression (Wilcoxon) vs the other labelled spots; "
            "classifier: drop in the category's probability when the gene is shuffled"
        )
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.category)
        lay.addWidget(self.runner)
        lay.addWidget(self.table)
        self.runner.run_button.clicked.connect(self.explain)
        self.result = None

    def set_categories(self, categories: list[str]) -> None:
        keep = self.category.currentText()
        self.category.clear()
        self.category.addItems(categories)
        if keep in categories:
            self.category.setCurrentText(keep)

    def explain(self) -> None:
        """Run :func:`napari_scdl.tl.explain_category` on the labelled spots (worker thread)."""
        from ...tl import explain_category

        store, column, cat = self.owner.store, self.owner.column, self.category.currentText()
        if store is None or not column or not cat:
            report_error(ScdlError("choose an annotation column and a category to explain"))
            return
        adata, seed = store.adata, int(self.owner.seed.value)
        self.result = None

        def work():
            yield Progress(0, 1, f"explaining {cat}: markers and permutation importance…")
            self.result = explain_category(adata, column, cat, n_genes=10, seed=seed)
            yield Progress(1, 1, f"genes that distinguish {cat} in {column!r}")

        self.runner.start(work, self.show_result, where="explain")

    def show_result(self) -> None:
        df = self.result
        if df is None:
            return
        self.table.setRowCount(len(df))
        for i, (gene, r) in enumerate(df.iterrows()):
            cells = [
                str(gene),
                str(r.get("found_by", "")),
                _fmt(r.get("log2fc")),
                _fmt(r.get("importance"), 3, "g"),
            ]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()


def _fmt(v, digits: int = 2, kind: str = "f") -> str:
    try:
        return "" if v is None or np.isnan(float(v)) else f"{float(v):.{digits}{kind}}"
    except (TypeError, ValueError):
        return str(v)
