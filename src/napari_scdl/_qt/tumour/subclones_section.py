"""Subclones section: pick a region (a category or the selected spots), run the
``subclones`` model, paint subclones inside the region only, draw their tree."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QAbstractItemView, QLabel, QListWidget, QVBoxLayout, QWidget

from ...colors import category_colors, paint_categorical
from ...errors import ScdlError
from ...models import get_model
from ..common.param_form import ParamForm
from ..common.result_layers import result_layer
from ..common.runner import Runner, report_error
from ..common.samples import categorical_columns
from ..common.table_model import RefreshingCombo
from .canvases import TreeCanvas

SELECTED = "(selected spots)"
FORM = ["n_subclones", "max_subclones", "signal", "gene_positions", "reference", "robust",
        "sparsity", "epochs"]
HIDDEN_ALPHA = 0.12


class SubclonesSection(QWidget):
    """Region chooser, model form, Run/Cancel, the tree and the painted subclones."""

    def __init__(self, viewer, sample, parent=None) -> None:
        super().__init__(parent)
        self.viewer, self.sample = viewer, sample
        self.key = get_model("subclones").default_key
        self.region_column = RefreshingCombo(self._columns)
        self.region_column.setToolTip("an annotation, domain or label column; or the spots "
                                      "selected on the tissue (lasso / select tool)")
        self.region_values = QListWidget()
        self.region_values.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.region_values.setMaximumHeight(90)
        self.region_values.setToolTip("the categories that make the region (several allowed)")
        self.form = ParamForm(get_model("subclones").params, only=FORM)
        self.runner = Runner("Find subclones")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.tree = TreeCanvas(on_pick=self.highlight)
        self.highlighted: str | None = None
        self.layer = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Region: column, then its categories"))
        lay.addWidget(self.region_column)
        lay.addWidget(self.region_values)
        lay.addWidget(self.form.native)
        lay.addWidget(self.runner)
        lay.addWidget(self.summary)
        lay.addWidget(self.tree)
        self.region_column.currentIndexChanged.connect(lambda _: self._fill_values())
        self.runner.run_button.clicked.connect(self.run)
        self.refresh()

    # -- region ----------------------------------------------------------------------------
    def _columns(self) -> list[str]:
        layer = self.sample.layer
        if layer is None:
            return []
        adata = layer.metadata["adata"]
        return [c for c in categorical_columns(adata) if c != self.key] + [SELECTED]

    def refresh(self) -> None:
        self.region_column.refresh()
        self._fill_values()

    def _fill_values(self) -> None:
        self.region_values.clear()
        col, layer = self.region_column.currentText(), self.sample.layer
        if not col or col == SELECTED or layer is None:
            return
        obs = layer.metadata["adata"].obs[col]
        cats = obs.cat.categories if hasattr(obs, "cat") else sorted(obs.dropna().unique())
        self.region_values.addItems([str(c) for c in cats])

    def set_region(self, column: str, values: list[str] | None = None) -> None:
        """Choose the region as a person would: the column, then its categories."""
        self.region_column.refresh()
        self.region_column.setCurrentIndex(self.region_column.findText(column))
        self._fill_values()
        for i in range(self.region_values.count()):
            item = self.region_values.item(i)
            item.setSelected(item.text() in set(values or []))

    def region(self):
        """What the model's ``region`` parameter gets: ``"column=v1,v2"`` or a mask."""
        col = self.region_column.currentText()
        if col == SELECTED:
            layer = self.sample.layer
            chosen = sorted(layer.selected_data) if layer is not None else []
            if not chosen:
                raise ScdlError("no spots are selected: select spots on the tissue (the "
                                "points layer's select tool) or choose a column")
            mask = np.zeros(layer.metadata["adata"].n_obs, dtype=bool)
            mask[chosen] = True
            return mask
        values = [it.text() for it in self.region_values.selectedItems()]
        if not col or not values:
            raise ScdlError("choose the region: a column and at least one of its categories")
        if any("," in v for v in values):
            raise ScdlError(f"category names with a comma cannot be used as a region: {values}")
        return f"{col}={','.join(values)}"

    # -- run and show ----------------------------------------------------------------------
    def run(self) -> None:
        from ...tl import run_model_iter

        try:
            adata = self.sample.adata
            model = get_model("subclones")(region=self.region(), **self.form.values())
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "subclones"))
            return
        self.runner.start(lambda: run_model_iter(adata, model, key_added=self.key),
                          self.show_result, where="subclones")

    def show_result(self) -> None:
        layer = self.sample.layer
        adata = layer.metadata["adata"]
        uns = adata.uns[self.key]
        self.layer = result_layer(self.viewer, layer, self.key)
        self.highlighted = None
        self._paint()
        self.layer.visible = True
        layers = self.viewer.layers
        layers.move(layers.index(self.layer), len(layers))
        colors = category_colors(adata, self.key)
        self.tree.set_tree(uns["tree"], colors)
        k = adata.obs[self.key].nunique()
        lines = [f"{k} subclones in {int(uns['n_region_spots'])} spots of {uns['region']}"]
        if "k_scores" in uns:
            scores = ", ".join(f"{kk}: {float(v):.3f}" for kk, v in dict(uns["k_scores"]).items())
            lines.append(f"chosen by silhouette ({scores})")
        self.summary.setText("<br>".join(lines))
        self.runner.status.setText("done: click a subclone in the tree to highlight it")

    def _paint(self) -> None:
        adata = self.layer.metadata["adata"]
        obs = adata.obs[self.key]
        inside = obs.notna().to_numpy()
        alpha = inside.astype(np.float32)
        if self.highlighted is not None:
            alpha[inside & (obs.astype(str) != self.highlighted).to_numpy()] = HIDDEN_ALPHA
        paint_categorical(self.layer, adata, self.key, alpha=alpha, missing=(0, 0, 0, 0))
        self.layer.refresh()

    def highlight(self, subclone: str | None) -> None:
        """Show ``subclone`` at full opacity and dim the region's other spots (None: all)."""
        if self.layer is None:
            return
        self.highlighted = None if subclone == self.highlighted else subclone
        self._paint()
        shown = self.highlighted or "all subclones"
        self.runner.status.setText(f"showing {shown}")
