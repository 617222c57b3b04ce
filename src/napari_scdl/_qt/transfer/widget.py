"""Dock widget "Transfer": carry the labels (or label proportions) of an annotated
reference — a single-cell atlas or a labelled slide — to a sample (issue 16).

Choose the reference file and its label column, run (progress, Cancel), and see the
transferred labels on the tissue; in proportions mode, paint the share of any label; the
rare-population view paints the spots where a label's share beats the shuffled-label null
(FDR); click a spot to see its per-label bar chart. Runs :func:`~napari_scdl.tl.transfer_iter`
(the same path as ``napari-scdl transfer``)."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...models import get_model
from ..annotate.inspector import nearest_spot
from ..common.param_form import ParamForm
from ..common.result_layers import show_categorical, show_values
from ..common.runner import Runner, report_error, show_warnings, warnings_label
from ..common.samples import SampleSelector
from ..models.parts import run_options

logger = logging.getLogger(__name__)

FORM_PARAMS = ["epochs", "adv_weight", "smooth", "n_null", "n_top_genes"]


class TransferWidget(QWidget):
    """Reference file + label column -> transferred labels/proportions on the tissue."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self._reference = None  # an in-memory AnnData set from Python
        self.sample = SampleSelector(napari_viewer)
        self.ref_path = QLineEdit()
        self.ref_path.setPlaceholderText("annotated reference (.h5ad)")
        self.browse = QPushButton("Browse…")
        self.labels_key = QComboBox()
        self.labels_key.setToolTip("the reference's obs column holding the labels")
        self.mode = QComboBox()
        self.mode.addItems(["labels", "proportions"])
        self.mode.setToolTip("labels: one label per spot; proportions: share of each label "
                             "(multi-cell spots)")
        self.form = ParamForm(get_model("transfer").params, only=FORM_PARAMS)
        self.run_opts = run_options()
        self.run_opts.key_added.value = "transferred_label"
        self.runner = Runner("Transfer")
        self.warnings = warnings_label()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.show_label = QComboBox()
        self.show_label.setToolTip("paint this label's share (or probability) on the tissue")
        self.show_share = QPushButton("Paint share")
        self.fdr = QDoubleSpinBox()
        self.fdr.setRange(0.001, 0.5)
        self.fdr.setSingleStep(0.01)
        self.fdr.setValue(0.05)
        self.fdr.setToolTip("false discovery rate of the rare-population view")
        self.show_rare = QPushButton("Rare population")
        self.show_rare.setToolTip("spots where the label's share beats the shuffled-label null")
        self.spot_view = QLabel("click a spot of the result to see its per-label chart")
        self.spot_view.setTextFormat(Qt.TextFormat.RichText)
        self.spot_view.setWordWrap(True)
        self.save_button = QPushButton("Save model…")
        self.save_button.setEnabled(False)
        self._tree_cache: dict = {}

        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow("sample", self.sample)
        row = QHBoxLayout()
        row.addWidget(self.ref_path)
        row.addWidget(self.browse)
        form.addRow("reference", row)
        form.addRow("label column", self.labels_key)
        form.addRow("mode", self.mode)
        lay.addLayout(form)
        lay.addWidget(self.form.native)
        lay.addWidget(self.run_opts.native)
        lay.addWidget(self.runner)
        lay.addWidget(self.warnings)
        lay.addWidget(self.summary)
        row = QHBoxLayout()
        row.addWidget(self.show_label)
        row.addWidget(self.show_share)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("FDR ≤"))
        row.addWidget(self.fdr)
        row.addWidget(self.show_rare)
        lay.addLayout(row)
        lay.addWidget(self.spot_view)
        lay.addWidget(self.save_button)
        lay.addStretch(1)
        self.setMinimumWidth(340)

        self.browse.clicked.connect(self._ask_reference)
        self.ref_path.editingFinished.connect(lambda: self.set_reference(self.ref_path.text()))
        self.runner.run_button.clicked.connect(self.run)
        self.show_share.clicked.connect(lambda: self.paint_share(self.show_label.currentText()))
        self.show_rare.clicked.connect(lambda: self.paint_rare(self.show_label.currentText()))
        self.save_button.clicked.connect(self._ask_save)

    @property
    def key(self) -> str:
        return self.run_opts.key_added.value.strip() or "transferred_label"

    # -- reference ----------------------------------------------------------------------
    def set_reference(self, reference) -> None:
        """Use a reference file (its label columns fill the chooser) or an AnnData."""
        import anndata as ad

        if isinstance(reference, (str, Path)):
            self._reference = None
            path = str(reference).strip()
            self.ref_path.setText(path)
            if not path:
                return
            try:
                obs = (ad.read_h5ad(path, backed="r").obs if path.endswith(".h5ad")
                       else _read(path).obs)
            except Exception as err:  # noqa: BLE001 - shown to the user
                self.runner.status.setText(report_error(err, "reading the reference"))
                return
        else:
            self._reference = reference
            self.ref_path.setText("(reference given from Python)")
            obs = reference.obs
        cols = [c for c in obs.columns if obs[c].dtype.name in ("category", "object")
                or obs[c].nunique() <= 50]
        self.labels_key.clear()
        self.labels_key.addItems(cols)
        self.runner.status.setText(f"reference: {len(obs)} cells/spots, label columns {cols}")

    def _ask_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference", "", "AnnData (*.h5ad);;All (*)")
        if path:
            self.set_reference(path)

    # -- run ----------------------------------------------------------------------------
    def run(self) -> None:
        """Train the transfer model on the chosen sample in a worker thread."""
        from ...errors import ScdlError
        from ...tl.transfer import transfer_iter, transfer_model

        try:
            adata = self.sample.adata
            ref = self._reference if self._reference is not None else self.ref_path.text()
            if ref is None or (isinstance(ref, str) and not ref.strip()):
                raise ScdlError("choose a reference file first (Browse…)")
            if not self.labels_key.currentText():
                raise ScdlError("choose the reference's label column")
            model = transfer_model(ref, labels_key=self.labels_key.currentText(),
                                   mode=self.mode.currentText(), **self.form.values())
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "transfer"))
            return
        key = self.key
        self.runner.start(
            lambda: transfer_iter(adata, ref, labels_key=model.hparams["labels_key"],
                                  key_added=key, seed=int(self.run_opts.seed.value),
                                  device=self.run_opts.device.value, model=model),
            lambda: self._after(model, key), where="transfer")

    def _after(self, model, key: str) -> None:
        self.model = model
        self.save_button.setEnabled(True)
        layer = self.sample.layer
        adata = layer.metadata["adata"]
        shown, _ = show_categorical(self.viewer, layer, key, confidence_as_opacity=True)
        shown.visible = True
        self._watch(shown)
        self.show_label.clear()
        self.show_label.addItems(model.categories)
        counts = adata.obs[key].value_counts()
        self.summary.setText(
            f"<b>{html.escape(key)}</b>: " + ", ".join(
                f"{html.escape(str(k))} {v}" for k, v in counts.items() if v)
            + f"<br>{float(adata.uns[key].get('wall_time_s', 0)):.1f} s")
        show_warnings(self.warnings, adata, key)
        self.show_rare.setEnabled(f"{key}_fdr" in adata.obsm)

    # -- views --------------------------------------------------------------------------
    def _table(self):
        from ...tl.transfer import label_table

        return label_table(self.sample.adata, self.key)

    def paint_share(self, label: str):
        """Paint ``label``'s share (proportions) or probability (labels) on the tissue."""
        values = self._table()[label].to_numpy(dtype=float)
        layer, _ = show_values(self.viewer, self.sample.layer, values, f"{self.key}: {label}",
                               cmap="magma", clim=(0.0, 1.0))
        layer.visible = True
        self._watch(layer)
        return layer

    def paint_rare(self, label: str):
        """Paint the spots where ``label`` beats the shuffled-label null at the chosen FDR
        (1 = significant) and say how many there are."""
        from ...tl.transfer import rare_spots

        try:
            rare = rare_spots(self.sample.adata, label, key=self.key, fdr=self.fdr.value())
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "rare population"))
            return None
        layer, _ = show_values(self.viewer, self.sample.layer, rare.to_numpy(dtype=float),
                               f"{self.key}: rare {label}", cmap="inferno", clim=(0.0, 1.0))
        layer.visible = True
        self._watch(layer)
        self.summary.setText(f"{int(rare.sum())} spots where {html.escape(label)} exceeds the "
                             f"shuffled-label null (FDR ≤ {self.fdr.value():g})")
        return layer

    def show_spot(self, i: int) -> str:
        """The per-label bar chart of spot ``i`` (also shown on a click)."""
        row = self._table().iloc[i].sort_values(ascending=False)
        name = html.escape(str(self.sample.adata.obs_names[i]))
        bars = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td><span style='color:#e8a33d'>"
            f"{'█' * int(round(20 * v))}</span> {v:.2f}</td></tr>"
            for k, v in row.items() if v >= 0.005)
        text = f"<b>{name}</b><table>{bars}</table>"
        self.spot_view.setText(text)
        return text

    def _watch(self, layer) -> None:
        def on_click(ly, event):
            i = nearest_spot(ly, event.position, self._tree_cache)
            if i is not None:
                self.show_spot(i)

        if on_click.__name__ not in [getattr(c, "__name__", "") for c in layer.mouse_drag_callbacks]:
            layer.mouse_drag_callbacks.append(on_click)

    # -- save ---------------------------------------------------------------------------
    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "transfer.pt",
                                              "napari-scdl model (*.pt)")
        if path and self.model is not None:
            self.model.save(path)
            self.summary.setText(f"saved the transfer model to {html.escape(path)}")


def _read(path: str):
    from ...io import read

    return read(path)
