"""Dock widget "Compare results": two or more clusterings side by side on the tissue, their
pairwise agreement (ARI / NMI) and a map of the spots where two of them disagree (issue 5).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...errors import ScdlError
from ..common.panel import PanelMixin, scroll_body
from ..common.result_layers import side_by_side
from ..common.runner import report_error
from ..common.samples import SampleSelector, categorical_columns, same_layer

#: colours of the disagreement map: agreeing spots faint grey, disagreeing ones red
AGREE, DISAGREE = "#b4b4b4", "#e0201b"


class CompareWidget(PanelMixin, QWidget):
    """Pick results (categorical ``obs`` columns), see them side by side with their
    pairwise ARI / NMI, and paint the spots where two of them disagree."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.sample = SampleSelector(napari_viewer)
        self.results = QListWidget()
        self.results.setToolTip("Tick two or more results (categorical obs columns) to compare")
        self.results.setMinimumHeight(110)
        self.refresh_button = QPushButton("Refresh list")
        self.side_button = QPushButton("Side by side")
        self.side_button.setToolTip(
            "Show each ticked result over its own copy of the tissue, "
            "and their pairwise agreement below"
        )
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["result A", "result B", "ARI", "NMI", "match %"])
        self.table.horizontalHeaderItem(2).setToolTip(
            "adjusted Rand index: 1 = the same partition, about 0 = chance agreement"
        )
        self.table.horizontalHeaderItem(3).setToolTip(
            "normalised mutual information: 1 = the same partition, 0 = independent"
        )
        self.table.horizontalHeaderItem(4).setToolTip(
            "% of spots with the same label once B's labels are matched one to one to A's"
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.setMinimumHeight(120)
        self.disagree_button = QPushButton("Show disagreement")
        self.disagree_button.setToolTip(
            "Paint the spots where the pair selected in the table (or the first two ticked "
            "results) disagree, after matching their labels one to one"
        )
        self.summary = QLabel("")
        self.summary.setWordWrap(True)

        lay = QVBoxLayout(scroll_body(self, min_width=340))
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        lay.addWidget(QLabel("<b>Results to compare</b>"))
        lay.addWidget(self.results)
        row = QHBoxLayout()
        row.addWidget(self.refresh_button)
        row.addWidget(self.side_button)
        lay.addLayout(row)
        lay.addWidget(QLabel("<b>Pairwise agreement</b>"))
        lay.addWidget(self.table)
        lay.addWidget(self.disagree_button)
        lay.addWidget(self.summary)
        lay.addStretch(1)

        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.side_button.clicked.connect(self._guard(self.show_side_by_side))
        self.disagree_button.clicked.connect(self._guard(self.show_disagreement))
        self.sample.changed.connect(lambda _: self.refresh())
        # a new result layer usually means a new result column: list it
        napari_viewer.layers.events.inserted.connect(lambda _: self.refresh())
        self.refresh()

    # -- the list of results --------------------------------------------------------------
    def refresh(self) -> None:
        """Re-list the categorical results of the chosen sample, keeping the ticks."""
        ticked = set(self.checked())
        layer = self.sample.layer
        cols = categorical_columns(layer.metadata["adata"]) if layer is not None else []
        self.results.clear()
        for c in cols:
            item = QListWidgetItem(c)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if c in ticked else Qt.CheckState.Unchecked)
            self.results.addItem(item)

    def checked(self) -> list[str]:
        """The ticked results, in list order."""
        return [
            self.results.item(i).text()
            for i in range(self.results.count())
            if self.results.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked(self, keys: list[str]) -> None:
        for i in range(self.results.count()):
            item = self.results.item(i)
            item.setCheckState(
                Qt.CheckState.Checked if item.text() in keys else Qt.CheckState.Unchecked
            )

    # -- actions ---------------------------------------------------------------------------
    def _guard(self, action):
        def run(*_):
            try:
                action()
            except Exception as err:  # noqa: BLE001 - shown to the user
                self.summary.setText(report_error(err, "comparing results"))

        return run

    def _chosen(self, minimum: int = 2) -> tuple[object, list[str]]:
        layer = self.sample.layer
        if layer is None:
            raise ScdlError("no sample is open: open a Visium folder or .h5ad file first")
        keys = self.checked()
        if len(keys) < minimum:
            raise ScdlError(f"tick at least {minimum} results to compare (ticked: {len(keys)})")
        return layer, keys

    def show_side_by_side(self) -> list:
        """Show the ticked results next to each other and fill the agreement table."""
        layer, keys = self._chosen()
        layers = side_by_side(self.viewer, layer, keys)
        self.fill_table(layer.metadata["adata"], keys)
        self.summary.setText(f"{len(keys)} results side by side; ARI / NMI of each pair above")
        return layers

    def fill_table(self, adata, keys: list[str]) -> None:
        """One row per pair of ``keys``: ARI, NMI and the agreement after label matching."""
        from ...tl import compare

        scores = compare(adata, keys)  # long form: key_a, key_b, ari, nmi, accuracy, ...
        self.table.setRowCount(len(scores))
        for i, row in enumerate(scores.itertuples(index=False)):
            cells = [
                row.key_a,
                row.key_b,
                f"{row.ari:.3f}",
                f"{row.nmi:.3f}",
                f"{100 * row.accuracy:.1f}",
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{row.key_a} vs {row.key_b}: {row.n_spots} spots labelled in both")
                if j >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(i, j, item)
        if len(scores):
            self.table.selectRow(0)

    def table_rows(self) -> list[tuple[str, str, float, float, float]]:
        """The table as (result A, result B, ARI, NMI, matched %) rows."""
        return [
            (
                self.table.item(i, 0).text(),
                self.table.item(i, 1).text(),
                *(float(self.table.item(i, j).text()) for j in (2, 3, 4)),
            )
            for i in range(self.table.rowCount())
        ]

    def _pair(self) -> tuple[object, str, str]:
        layer, keys = self._chosen()
        rows = self.table.selectionModel().selectedRows() if self.table.rowCount() else []
        if rows:
            i = rows[0].row()
            a, b = self.table.item(i, 0).text(), self.table.item(i, 1).text()
            if a in keys and b in keys:
                return layer, a, b
        return layer, keys[0], keys[1]

    def show_disagreement(self):
        """Paint the spots where the chosen pair disagrees as a result layer."""
        from ...colors import _hex_to_rgba
        from ...metrics import valid_mask
        from ...tl import disagreement
        from ..common.result_layers import result_layer

        layer, a, b = self._pair()
        adata = layer.metadata["adata"]
        differ = np.asarray(disagreement(adata, a, b), dtype=bool)
        out = result_layer(
            self.viewer,
            layer,
            f"{a} vs {b}",
            name=f"{layer.name.removesuffix(' spots')} · disagreement {a} vs {b}",
        )
        rgba = np.where(differ[:, None], _hex_to_rgba([DISAGREE]), _hex_to_rgba([AGREE]))
        rgba[~differ, 3] = 0.35
        out.face_color = rgba
        out.features = out.features.assign(disagree=differ)
        out.metadata["painted_by"] = f"disagreement {a} vs {b}"
        out.refresh()
        for ly in self.viewer.layers:  # results drawn at the same place would show through
            if (
                not same_layer(ly, out)
                and ly.metadata.get("scdl_role") == "result"
                and ly.metadata.get("adata") is adata
                and np.allclose(ly.translate, out.translate)
            ):
                ly.visible = False
        out.visible = True
        self.viewer.layers.selection.active = out
        n = int(valid_mask(adata.obs[a], adata.obs[b]).sum())  # spots labelled in both
        self.summary.setText(
            f"<span style='color:{DISAGREE}'>■</span> {int(differ.sum())} of {n} spots "
            f"({differ.sum() / max(n, 1):.1%}) are in unmatched clusters of {a} and {b}; "
            f"<span style='color:{AGREE}'>■</span> agree"
        )
        return out
