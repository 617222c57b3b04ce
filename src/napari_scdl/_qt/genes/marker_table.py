"""Marker genes in the dock: find them per group, filter, sort, click a row to paint the gene."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from qtpy.QtCore import QSortFilterProxyModel, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...models import Progress
from ..common.runner import Runner, report_error
from ..common.samples import categorical_columns
from ..common.table_model import SHOWN, SORT_ROLE, FrameModel, RefreshingCombo

_ALL = "all groups"


class MarkerPanel(QWidget):
    """Group-by column, 'Find markers', filters, a sortable table and CSV export."""

    gene_chosen = Signal(str)  # a row was clicked: paint this gene
    groupby_changed = Signal(str)

    def __init__(self, get_adata, parent=None) -> None:
        super().__init__(parent)
        self.get_adata = get_adata  # () -> the current sample's AnnData (raises ScdlError)
        self.table_df: pd.DataFrame | None = None  # the full table of the last run
        self.groupby = RefreshingCombo(self._group_columns)
        self.groupby.setToolTip("obs column whose groups are compared (domains, annotation...)")
        self.reference = RefreshingCombo(self._references)
        self.reference.setToolTip("compare each group with all other spots, or with one group")
        self.runner = Runner("Find markers")
        self.group = RefreshingCombo(self._groups)
        self.top_n = _spin(QSpinBox(), 0, 10000, 10, "best genes per group (0 = all)")
        self.padj = _spin(QDoubleSpinBox(), 0.0, 1.0, 0.05, "keep adjusted p-value (BH) up to")
        self.padj.setDecimals(4)
        self.padj.setSingleStep(0.01)
        self.lfc = _spin(QDoubleSpinBox(), -20.0, 20.0, 0.25, "keep log2 fold change from")
        self.lfc.setSingleStep(0.25)
        self.model = FrameModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = _table_view(self.proxy)
        self.summary = QLabel("")
        self.summary.setToolTip("rows passing the filters / all rows of the last run")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("save the rows shown (after filters) as a CSV table")

        form = QFormLayout()
        form.addRow("group by", self.groupby)
        form.addRow("versus", self.reference)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.runner)
        filters = QFormLayout()
        filters.addRow("show group", self.group)
        row = QHBoxLayout()
        for text, w in (("top", self.top_n), ("p adj ≤", self.padj), ("log2FC ≥", self.lfc)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        filters.addRow(row)
        lay.addLayout(filters)
        lay.addWidget(self.view)
        lay.addWidget(self.summary)
        lay.addWidget(self.export_button)

        self.runner.run_button.clicked.connect(self.find_markers)
        self.groupby.currentIndexChanged.connect(lambda _: self._on_groupby())
        for w in (self.top_n, self.padj, self.lfc):
            w.valueChanged.connect(lambda _: self.apply_filters())
        self.group.currentIndexChanged.connect(lambda _: self.apply_filters())
        self.view.clicked.connect(self._on_click)
        self.export_button.clicked.connect(self._ask_export)

    # ---- choices -------------------------------------------------------------------------
    def _adata_or_none(self):
        try:
            return self.get_adata()
        except Exception:  # noqa: BLE001 - no sample open: empty choices
            return None

    def _group_columns(self) -> list[str]:
        adata = self._adata_or_none()
        return categorical_columns(adata) if adata is not None else []

    def _categories(self) -> list[str]:
        adata = self._adata_or_none()
        col = self.groupby.currentText()
        if adata is None or col not in adata.obs:
            return []
        return [str(c) for c in adata.obs[col].astype("category").cat.categories]

    def _references(self) -> list[str]:
        return ["rest", *self._categories()]

    def _groups(self) -> list[str]:
        cats = (
            self._categories()
            if self.table_df is None
            else list(pd.unique(self.table_df["group"].astype(str)))
        )
        return [_ALL, *cats]

    def refresh(self) -> None:
        """Re-read the sample: columns, and a marker table stored in ``uns['markers']``."""
        self.groupby.refresh()
        self.reference.refresh()
        adata = self._adata_or_none()
        self.table_df = None
        if adata is not None and isinstance(adata.uns.get("markers"), dict):
            from ...tl.markers import get_markers

            self.table_df = get_markers(adata)
            col = adata.uns["markers"].get("params", {}).get("groupby")
            if col in self._group_columns():
                self.groupby.setCurrentText(col)
        self.group.refresh()
        self.apply_filters()

    def _on_groupby(self) -> None:
        self.reference.refresh()
        self.groupby_changed.emit(self.groupby.currentText())

    # ---- running and showing ---------------------------------------------------------------
    def find_markers(self) -> None:
        """Test every gene in each group of the chosen column (in a worker thread)."""
        from ...tl.markers import markers

        try:
            adata = self.get_adata()
        except Exception as err:  # noqa: BLE001 - shown to the user
            report_error(err, "markers")
            return
        groupby, ref = self.groupby.currentText(), self.reference.currentText() or "rest"
        result = {}

        def work():
            yield Progress(0, 1, f"testing {adata.n_vars:,} genes in each group of {groupby}…")
            result["df"] = markers(adata, groupby, reference=ref)
            yield Progress(1, 1, "done")

        def done():
            self.table_df = result["df"]
            self.group.refresh()
            self.group.setCurrentIndex(0)
            self.apply_filters()

        self.runner.start(work, done, where="markers")

    def shown(self) -> pd.DataFrame:
        """The rows that pass the filters (what the table shows, before sorting)."""
        from ...tl.markers import filter_markers

        if self.table_df is None:
            return pd.DataFrame(columns=SHOWN)
        group = self.group.currentText()
        return filter_markers(
            self.table_df,
            group=None if group in ("", _ALL) else group,
            pval_adj_max=float(self.padj.value()),
            log2fc_min=float(self.lfc.value()),
            top_n=int(self.top_n.value()) or None,
        )

    def apply_filters(self) -> None:
        df = self.shown()
        self.model.set_frame(df)
        if self.table_df is None:
            self.summary.setText("no markers yet: press 'Find markers'")
            return
        self.summary.setText(
            f"{len(df):,} of {len(self.table_df):,} rows · click a row to paint its gene"
        )

    def gene_at(self, row: int) -> str:
        """The gene in visible (sorted) table row ``row``."""
        src = self.proxy.mapToSource(self.proxy.index(row, 0))
        return str(self.model.df["gene"].iat[src.row()])

    def _on_click(self, index) -> None:
        if index.isValid():
            self.gene_chosen.emit(self.gene_at(index.row()))

    def export_csv(self, path) -> None:
        from ...tl.markers import export_markers_csv

        if self.table_df is None:
            report_error(_no_markers(), "markers")
            return
        rows = self.shown()  # all columns of the marker table, the rows the filters keep
        export_markers_csv(rows, path)
        self.summary.setText(f"wrote {len(rows):,} rows to {Path(path).name}")

    def _ask_export(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(
            self, "Export marker table", "markers.csv", "CSV (*.csv)"
        )
        if path:
            try:
                self.export_csv(path)
            except Exception as err:  # noqa: BLE001 - shown to the user
                report_error(err, "export CSV")


def _spin(w, lo, hi, value, tip):
    w.setRange(lo, hi)
    w.setValue(value)
    w.setToolTip(tip)
    return w


def _table_view(model) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    view.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
    # 150 px showed 5 rows at a time (issue 12); the panel scrolls, so show a useful page
    view.setMinimumHeight(view.horizontalHeader().sizeHint().height() + VISIBLE_ROWS * ROW_HEIGHT + 4)
    return view


#: rows of the marker table visible without scrolling it, and their height in px
VISIBLE_ROWS, ROW_HEIGHT = 12, 22


def _no_markers():
    from ...errors import ScdlError

    return ScdlError("no marker table yet: choose a column and press 'Find markers' first")
