"""Dock widget "Genes & markers": paint any gene on the tissue, find marker genes per group."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QStringListModel, Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleRangeSlider

from ..common.panel import PanelMixin, scroll_body
from ..common.plot_canvas import ColorbarCanvas, GroupPlotCanvas
from ..common.result_layers import show_values
from ..common.runner import report_error
from ..common.samples import SampleSelector
from ..common.table_model import RefreshingCombo
from .marker_table import MarkerPanel

RAW = "expression (counts, log-normalised)"
COLORMAPS = ["viridis", "magma", "inferno", "plasma", "turbo", "PiYG", "gray"]
LAYER_KEY = "gene expression"


class GeneCompleter(QCompleter):
    """Completes the gene being typed after the last comma, ignoring case."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setModel(QStringListModel([], self))
        self.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.setModelSorting(QCompleter.ModelSorting.CaseInsensitivelySortedModel)
        self.setMaxVisibleItems(12)

    def set_genes(self, genes: list[str]) -> None:
        self.model().setStringList(sorted(genes, key=str.lower))

    def splitPath(self, path: str) -> list[str]:  # noqa: N802 - Qt name
        return [path.split(",")[-1].strip()]

    def pathFromIndex(self, index) -> str:  # noqa: N802 - Qt name
        head = self.widget().text().rsplit(",", 1)[0] if self.widget() else ""
        gene = super().pathFromIndex(index)
        return f"{head}, {gene}" if self.widget() and "," in self.widget().text() else gene


class ExpressionWidget(PanelMixin, QWidget):
    """Gene box, colormap and contrast, colorbar, marker table, violins, figure export."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.values: np.ndarray | None = None  # what is painted now
        self.label = ""  # the gene, or "mean of A, B"
        self.layer = None  # the result layer painted
        self.sample = SampleSelector(napari_viewer)
        self.gene_box = QLineEdit()
        self.gene_box.setPlaceholderText("gene, or several: MBP, PLP1, MOBP")
        self.gene_box.setToolTip(
            "type a gene and press Enter; several genes separated by "
            "commas give a meta-gene score (mean or sum)"
        )
        self.completer = GeneCompleter(self)
        self.gene_box.setCompleter(self.completer)
        self.source = RefreshingCombo(self._sources)
        self.source.setToolTip("measured counts, or values imputed by a model (layers '*_imputed')")
        self.agg = QComboBox()
        self.agg.addItems(["mean", "sum"])
        self.agg.setToolTip("how several genes combine into one score")
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.contrast = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        self.contrast.setToolTip("contrast limits: values below/above get the end colours")
        self.contrast.setDecimals(2)
        self.contrast.setRange(0.0, 1.0)
        self.contrast.setValue((0.0, 1.0))
        self.colorbar = ColorbarCanvas()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.markers = MarkerPanel(lambda: self.sample.adata)
        self.plot = GroupPlotCanvas()
        self.figure_button = QPushButton("Export figure…")
        self.figure_button.setToolTip(
            "save the tissue with this overlay, its colorbar and a "
            "scale bar as a publication-resolution PNG"
        )
        self._build_layout()

        # Enter and picking a completion both ask for a paint; run it once, after the
        # completer has put the chosen name into the box
        self._paint_soon = QTimer(self)
        self._paint_soon.setSingleShot(True)
        self._paint_soon.setInterval(0)
        self._paint_soon.timeout.connect(self.paint_from_box)
        self._completed = ""  # the completion picked, put into the box before painting
        self.gene_box.returnPressed.connect(self._paint_soon.start)
        self.completer.activated[str].connect(self._on_completed)
        self.source.currentIndexChanged.connect(lambda _: self.repaint_gene())
        self.agg.currentIndexChanged.connect(lambda _: self.repaint_gene())
        self.cmap.currentIndexChanged.connect(lambda _: self._show())
        self.contrast.valueChanged.connect(lambda _: self._show())
        self.markers.gene_chosen.connect(self.paint_gene)
        self.markers.groupby_changed.connect(lambda _: self._plot())
        self.figure_button.clicked.connect(self._ask_figure)
        self.sample.changed.connect(lambda _: self._on_sample())
        self._on_sample()

    def _build_layout(self) -> None:
        lay = QVBoxLayout(scroll_body(self))
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        lay.addWidget(QLabel("<b>Gene expression</b>"))
        form = QFormLayout()
        form.addRow("gene(s)", self.gene_box)
        form.addRow("values", self.source)
        form.addRow("several genes", self.agg)
        form.addRow("colormap", self.cmap)
        form.addRow("contrast", self.contrast)
        lay.addLayout(form)
        lay.addWidget(self.colorbar)
        lay.addWidget(self.status)
        lay.addWidget(QLabel("<b>Marker genes</b>"))
        lay.addWidget(self.markers)
        lay.addWidget(self.plot)
        lay.addWidget(self.figure_button)
        lay.addStretch(1)

    def _sources(self) -> list[str]:
        layer = self.sample.layer
        adata = layer.metadata["adata"] if layer is not None else None
        imputed = sorted(
            k for k in (adata.layers if adata is not None else {}) if str(k).endswith("_imputed")
        )
        return [RAW, *imputed]

    def _on_sample(self) -> None:
        from napari.qt.threading import create_worker

        from ...tl.expression import gene_names, prepare_expression

        layer = self.sample.layer
        self.completer.set_genes(gene_names(layer.metadata["adata"]) if layer is not None else [])
        self.source.refresh()
        self.markers.refresh()
        self.values, self.layer = None, None
        if layer is not None:  # build the expression cache now, so the first gene is instant
            self._prepare = create_worker(prepare_expression, layer.metadata["adata"])
            self._prepare.errored.connect(lambda err: report_error(err, "reading expression"))

    @property
    def genes(self) -> list[str]:
        return [g.strip() for g in self.gene_box.text().split(",") if g.strip()]

    def _on_completed(self, text: str) -> None:
        self._completed = text
        self._paint_soon.start()

    def paint_from_box(self) -> None:
        """Paint what the gene box holds (one gene, or a meta-gene of several)."""
        if self._completed:
            self.gene_box.setText(self._completed)
            self._completed = ""
        if self.genes:
            self.paint_gene(", ".join(self.genes), from_box=True)

    def paint_gene(self, text: str, *, from_box: bool = False) -> None:
        """Paint the gene(s) in ``text`` (comma-separated) over the tissue."""
        from ...tl.expression import gene_values, resolve_genes

        if not from_box:
            self.gene_box.setText(text)
        try:
            adata = self.sample.adata
            genes = [str(adata.var_names[j]) for j in resolve_genes(adata, self.genes)]
            layer = None if self.source.currentText() in ("", RAW) else self.source.currentText()
            agg = self.agg.currentText()
            values = gene_values(adata, genes if len(genes) > 1 else genes[0], layer=layer, agg=agg)
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.status.setText(report_error(err, "painting a gene"))
            return
        self.gene_box.setText(", ".join(genes))  # as spelled in the data
        self.values = values
        self.label = genes[0] if len(genes) == 1 else f"{agg} of {', '.join(genes)}"
        lo, hi = float(values.min()), float(values.max())
        hi = hi if hi > lo else lo + 1.0
        self.contrast.blockSignals(True)
        self.contrast.setRange(lo, hi)
        self.contrast.setValue((lo, hi))
        self.contrast.blockSignals(False)
        self._show()
        n_on = int((values > 0).sum())
        where = "" if layer is None else f" ({layer})"
        self.status.setText(
            f"{self.label}{where}: expressed in {n_on:,} of {len(values):,} "
            f"spots; max {hi:.2f} (log of counts per 10,000 + 1)"
        )
        self._plot()

    def repaint_gene(self) -> None:
        if self.values is not None and self.genes:
            self.paint_gene(", ".join(self.genes), from_box=True)

    def _show(self) -> None:
        """(Re)colour the result layer with the current values, colormap and contrast."""
        spots = self.sample.layer
        if self.values is None or spots is None:
            return
        clim = tuple(float(c) for c in self.contrast.value())
        cmap = self.cmap.currentText()
        self.layer, clim = show_values(
            self.viewer, spots, self.values, LAYER_KEY, cmap=cmap, clim=clim
        )
        self.layer.metadata["gene"] = self.label
        self.colorbar.set_colorbar(cmap, clim, self.label)

    def _plot(self) -> None:
        groupby = self.markers.groupby.currentText()
        layer = self.sample.layer
        if self.values is None or layer is None:
            return
        if not groupby:
            self.plot.clear_plot("no categorical column to group by: run domains first")
            return
        self.plot.plot_groups(layer.metadata["adata"], self.values, groupby, self.label)

    def export_figure(self, path, **kwargs):
        """Save the painted gene (else the group-by column) as a figure; returns the path."""
        from ...figure import export_figure

        adata = self.sample.adata
        if self.values is not None and self.genes:
            source = self.source.currentText()
            kwargs.setdefault("layer", None if source in ("", RAW) else source)
            kwargs.setdefault("agg", self.agg.currentText())
            kwargs.setdefault("cmap", self.cmap.currentText())
            kwargs.setdefault("clim", tuple(float(c) for c in self.contrast.value()))
            color_by = ", ".join(self.genes)
        elif self.markers.groupby.currentText():
            color_by = self.markers.groupby.currentText()
        else:
            from ...errors import ScdlError

            raise ScdlError("nothing to draw: paint a gene or choose a column to group by first")
        return export_figure(adata, color_by, path, **kwargs)

    def _ask_figure(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Export figure", "figure.png", "PNG (*.png)")
        if not path:
            return
        try:
            out = self.export_figure(path)
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.status.setText(report_error(err, "figure export"))
            return
        self.status.setText(f"saved {out}")
