"""Gene programs section: choose the grouping, run ``gene_programs``, see each program as
a ranked table, paint its score on the tissue and draw its gene network."""

from __future__ import annotations

import pandas as pd
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...models import get_model
from ..common.param_form import ParamForm
from ..common.result_layers import show_values
from ..common.runner import Runner, report_error
from ..common.samples import categorical_columns
from ..common.table_model import RefreshingCombo
from .canvases import NetworkCanvas

FORM = ["n_program_genes", "n_top_genes", "max_genes_per_spot", "epochs"]
CLUSTERS = "(clusters of the embedding)"


class ProgramsSection(QWidget):
    """Grouping column, form, Run/Cancel, program chooser, ranked table, score, network."""

    def __init__(self, viewer, sample, parent=None) -> None:
        super().__init__(parent)
        self.viewer, self.sample = viewer, sample
        self.key = get_model("gene_programs").default_key
        self.groupby = RefreshingCombo(self._columns)
        self.groupby.setToolTip("each group (domain, layer, annotation) gets its gene program")
        self.form = ParamForm(get_model("gene_programs").params, only=FORM)
        self.runner = Runner("Find gene programs")
        self.program = QComboBox()
        self.program.setToolTip("the group whose program is shown")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["rank", "gene", "score"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(160)
        self.paint_button = QPushButton("Paint program score on the tissue")
        self.paint_button.setEnabled(False)
        self.network = NetworkCanvas()
        self.layer = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Group by"))
        lay.addWidget(self.groupby)
        lay.addWidget(self.form.native)
        lay.addWidget(self.runner)
        lay.addWidget(QLabel("Program"))
        lay.addWidget(self.program)
        lay.addWidget(self.table)
        lay.addWidget(self.paint_button)
        lay.addWidget(self.network)
        self.runner.run_button.clicked.connect(self.run)
        self.program.currentIndexChanged.connect(lambda _: self.show_program())
        self.paint_button.clicked.connect(self.paint_score)
        self.groupby.refresh()

    def _columns(self) -> list[str]:
        layer = self.sample.layer
        if layer is None:
            return []
        cols = categorical_columns(layer.metadata["adata"])
        return [c for c in cols if c not in (self.key, "subclone")] + [CLUSTERS]

    def set_groupby(self, column: str) -> None:
        self.groupby.refresh()
        self.groupby.setCurrentIndex(self.groupby.findText(column))

    def run(self) -> None:
        from ...tl import run_model_iter

        col = self.groupby.currentText()
        try:
            adata = self.sample.adata
            model = get_model("gene_programs")(groupby="" if col == CLUSTERS else col,
                                               **self.form.values())
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "gene programs"))
            return
        self.runner.start(lambda: run_model_iter(adata, model, key_added=self.key),
                          self.show_result, where="gene programs")

    @property
    def uns(self) -> dict:
        return self.sample.adata.uns[self.key]

    def programs(self) -> pd.DataFrame:
        return pd.DataFrame(self.uns["programs"])

    def show_result(self) -> None:
        groups = [str(g) for g in self.uns["groups"]]
        self.program.blockSignals(True)
        self.program.clear()
        self.program.addItems(groups)
        self.program.blockSignals(False)
        self.paint_button.setEnabled(True)
        self.runner.status.setText(f"done: {len(groups)} programs; choose one below")
        self.show_program()

    def show_program(self, group: str | None = None) -> None:
        """Fill the table and the network with ``group``'s program (default: the chosen)."""
        if group is not None:
            self.program.setCurrentIndex(self.program.findText(group))
            return
        group = self.program.currentText()
        if not group:
            return
        df = self.programs()
        df = df[df["group"].astype(str) == group]
        self.table.setRowCount(len(df))
        for i, (rank, gene, score) in enumerate(df[["rank", "gene", "score"]].itertuples(index=False)):
            for j, v in enumerate((str(int(rank)), str(gene), f"{float(score):.2e}")):
                self.table.setItem(i, j, QTableWidgetItem(v))
        nets = pd.DataFrame(self.uns["networks"])
        genes = list(df["gene"][:20])
        self.network.set_network(nets[nets["group"].astype(str) == group], genes,
                                 f"co-attention network: {group}")

    def paint_score(self) -> None:
        """Colour the spots by the chosen program's score."""
        group = self.program.currentText()
        layer = self.sample.layer
        if not group or layer is None:
            return
        col = dict(self.uns["score_columns"])[group]
        values = layer.metadata["adata"].obs[col].to_numpy()
        self.layer, _ = show_values(self.viewer, layer, values, col, cmap="magma")
        self.layer.visible = True
        layers = self.viewer.layers
        layers.move(layers.index(self.layer), len(layers))
