"""Dock widget "Models": run any registered model on a sample (issue 5).

The model chooser lists :func:`~napari_scdl.models.list_models`; the parameter form is
generated from the chosen model's registry entry, so a new model needs no GUI code.
Training runs through :func:`~napari_scdl.tl.run_model_iter` (the same path as the CLI);
clusters are shown on the tissue like domains. Trained models can be saved and applied
to another sample with the same genes; any ``obsm`` embedding can be clustered.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ...models import BaseModel, Progress, get_model, list_models
from ..common.legend import LegendTable
from ..common.panel import PanelMixin
from ..common.param_form import ParamForm
from ..common.result_layers import show_categorical
from ..common.runner import Runner, report_error, show_warnings, warnings_label
from ..common.samples import SampleSelector
from .cluster_section import ClusterSection
from .parts import about_html, run_options, written_keys

logger = logging.getLogger(__name__)


class ModelsWidget(PanelMixin, QWidget):
    """Choose a model, set its parameters, train it on a sample and see what it wrote."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model = None  # the last trained or loaded model (what "Save model…" saves)
        self.sample = SampleSelector(napari_viewer)
        self.chooser = QComboBox()
        self.chooser.setToolTip("Every registered model; hover an entry for what it does")
        self.about = QLabel("")
        self.about.setWordWrap(True)
        self.about.setTextFormat(Qt.TextFormat.RichText)
        self.form_box = QVBoxLayout()
        self.form_box.setContentsMargins(0, 0, 0, 0)
        self.form: ParamForm | None = None
        self.run_opts = run_options()
        self.runner = Runner("Run model")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings = warnings_label()
        self.legend = LegendTable()
        self.save_button = QPushButton("Save model…")
        self.save_button.setToolTip("Save the trained model (weights, parameters, genes)")
        self.save_button.setEnabled(False)
        self.load_button = QPushButton("Load model && apply…")
        self.load_button.setToolTip("Apply a saved model to this sample (it needs the same genes)")
        self.clusters = ClusterSection(napari_viewer, self.sample, self.show_clusters)

        # the long generated form scrolls instead of being squashed
        inner = QWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setMinimumWidth(340)
        lay = QVBoxLayout(inner)
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        lay.addWidget(QLabel("<b>Model</b>"))
        lay.addWidget(self.chooser)
        lay.addWidget(self.about)
        lay.addWidget(QLabel("<b>Parameters</b>"))
        lay.addLayout(self.form_box)
        lay.addWidget(self.run_opts.native)
        lay.addWidget(self.runner)
        lay.addWidget(QLabel("<b>Result</b>"))
        lay.addWidget(self.summary)
        lay.addWidget(self.warnings)
        lay.addWidget(self.legend)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)
        lay.addLayout(row)
        lay.addWidget(self.clusters)
        lay.addStretch(1)

        self.refresh_models()
        self.chooser.currentIndexChanged.connect(lambda _: self._on_model_changed())
        self.runner.run_button.clicked.connect(self.run)
        self.save_button.clicked.connect(self._ask_save)
        self.load_button.clicked.connect(self._ask_load)
        self.sample.changed.connect(lambda _: self._on_sample_changed())
        self._on_model_changed()

    # -- model chooser and generated form ---------------------------------------------------
    def refresh_models(self) -> None:
        """Fill the chooser from the registry (keeps the current choice when possible)."""
        current = self.chooser.currentData()
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for name, cls in sorted(list_models().items()):
            self.chooser.addItem(name, name)
            self.chooser.setItemData(
                self.chooser.count() - 1, cls.description, Qt.ItemDataRole.ToolTipRole
            )
        if current is not None and self.chooser.findData(current) >= 0:
            self.chooser.setCurrentIndex(self.chooser.findData(current))
        self.chooser.blockSignals(False)

    @property
    def model_cls(self) -> type[BaseModel] | None:
        name = self.chooser.currentData()
        return get_model(name) if name else None

    def select_model(self, name: str) -> None:
        """Choose the model called ``name`` (rebuilds the parameter form)."""
        idx = self.chooser.findData(name)
        if idx < 0:
            self.refresh_models()
            idx = self.chooser.findData(name)
        if idx < 0:
            get_model(name)  # raises the registry's error naming the available models
        self.chooser.setCurrentIndex(idx)  # rebuilds the form when the model changes

    def _on_model_changed(self) -> None:
        cls = self.model_cls
        if self.form is not None:
            self.form_box.removeWidget(self.form.native)
            self.form.native.setParent(None)
            self.form.native.deleteLater()
            self.form = None
        if cls is None:
            self.about.setText("no models are registered")
            return
        self.form = ParamForm(cls.params)
        self.form_box.addWidget(self.form.native)
        self.about.setText(about_html(cls))
        self.run_opts.key_added.value = cls.default_key or cls.name

    @property
    def key(self) -> str:
        cls = self.model_cls
        default = (cls.default_key or cls.name) if cls is not None else "result"
        return self.run_opts.key_added.value.strip() or default

    # -- training ---------------------------------------------------------------------------
    def run(self) -> None:
        """Train the chosen model on the chosen sample in a worker thread."""
        from ...tl import run_model_iter

        try:
            adata = self.sample.adata
            model = self.model_cls(**self.form.values())
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "models"))
            return
        opts = {
            "seed": int(self.run_opts.seed.value),
            "device": self.run_opts.device.value,
            "key_added": self.key,
        }
        self.runner.start(
            lambda: run_model_iter(adata, model, **opts),
            lambda: self._after(model, opts["key_added"]),
            where=model.name,
        )

    def _after(self, model: BaseModel, key: str) -> None:
        self.model = model
        self.runner.status.setText("done: see Result below")
        self.save_button.setEnabled(True)
        layer = self.sample.layer
        if layer is None:
            return
        clustered = model.get_labels() is not None
        adata = layer.metadata["adata"]
        lines = [
            f"<b>{html.escape(model.name)}</b> wrote: "
            + ", ".join(html.escape(k, quote=False) for k in written_keys(model, key))
        ]
        if not clustered:
            lines.append("no clusters (n_clusters = 0): cluster the embedding below")
        info = adata.uns.get(key, {})
        if "wall_time_s" in info:
            lines.append(f"{float(info['wall_time_s']):.1f} s on {info.get('device', '?')}")
        self.summary.setText("<br>".join(lines))
        show_warnings(self.warnings, adata, key)
        self.clusters.refresh(select=f"X_{key}")
        if clustered:
            self.show_clusters(key)
        else:
            self.legend.setRowCount(0)

    def show_clusters(self, key: str) -> None:
        """Colour the sample's spots by ``obs[key]`` (as a result layer) and fill the legend."""
        layer = self.sample.layer
        if layer is None or key not in layer.metadata["adata"].obs:
            return
        shown, legend = show_categorical(self.viewer, layer, key)
        shown.visible = True
        layers = self.viewer.layers
        layers.move(layers.index(shown), len(layers))  # on top: the legend describes it
        layers.selection.active = shown
        self.legend.set_legend(legend, layer.metadata["adata"].obs[key])

    def _on_sample_changed(self) -> None:
        self.legend.setRowCount(0)
        self.summary.setText("")
        self.warnings.setVisible(False)
        self.clusters.refresh()

    # -- save / load ------------------------------------------------------------------------
    def save_model(self, path: str | Path) -> Path:
        """Save the last trained (or loaded) model to ``path``."""
        from ...errors import ScdlError

        if self.model is None:
            raise ScdlError("no trained model yet: press 'Run model' first")
        path = self.model.save(path)
        self.summary.setText(f"saved {self.model.name} model to {html.escape(str(path))}")
        return path

    def load_and_apply(self, path: str | Path) -> None:
        """Load a saved model and apply it to the chosen sample (in a worker thread); its
        results are written under the result name and shown like a run's."""
        try:
            adata = self.sample.adata
            model = BaseModel.load(path, device=self.run_opts.device.value)
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "loading a model"))
            return
        self.select_model(model.name)
        self.form.set_values(**{k: v for k, v in model.hparams.items() if v is not None})
        key = self.key

        def work():
            yield Progress(0, 1, f"applying the saved {model.name} model to this sample…")
            model.transform(adata)
            written = model.write(adata, key)
            adata.uns[key]["model_file"] = str(path)
            yield Progress(
                1, 1, f"{model.name} (from {Path(path).name}): wrote {', '.join(written)}"
            )

        self.runner.start(work, lambda: self._after(model, key), where="applying a model")

    def _ask_save(self) -> None:
        name = f"{self.model.name}.pt" if self.model is not None else "model.pt"
        path, _ = QFileDialog.getSaveFileName(self, "Save model", name, "napari-scdl model (*.pt)")
        if path:
            try:
                self.save_model(path)
            except Exception as err:  # noqa: BLE001 - shown to the user
                self.summary.setText(report_error(err, "saving the model"))

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "napari-scdl model (*.pt)")
        if path:
            self.load_and_apply(path)
