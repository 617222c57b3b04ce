"""Dock widget: spatial domains with the graph-convolution model (issue "domains")."""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, LineEdit, SpinBox
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...models import get_model
from ..common.legend import LegendTable
from ..common.panel import PanelMixin, scroll_body
from ..common.param_form import ParamForm
from ..common.plot_canvas import ColorbarCanvas
from ..common.result_layers import show_categorical, show_values, side_by_side
from ..common.runner import (
    WARNING_COLOR,
    Runner,
    report_error,
    show_warnings,
    warnings_label,
)
from ..common.samples import SampleSelector, categorical_columns

MODEL = "domain_gcn"


class DomainsWidget(PanelMixin, QWidget):
    """Find spatial domains, show them over the H&E with a legend, compare with a column."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model_cls = get_model(MODEL)
        self.sample = SampleSelector(napari_viewer)
        self.form = ParamForm(self.model_cls.params)
        self.run_opts = Container(widgets=[
            SpinBox(name="seed", value=0, min=0, max=2**31 - 1, label="seed",
                    tooltip="fixed seed: same seed, same domains"),
            ComboBox(name="device", choices=["auto", "cpu", "cuda"], value="auto", label="device",
                     tooltip="auto = the GPU when there is one"),
            LineEdit(name="key_added", value=self.model_cls.default_key or "domain",
                     label="result name", tooltip="obs column the domains are written to"),
        ])
        self.runner = Runner("Find domains")
        self.legend = LegendTable()
        self.conf_opacity = QCheckBox("confidence as opacity")
        self.conf_layer = QPushButton("Confidence layer")
        self.compare_with = ComboBox(label="compare with", choices=[])
        self.compare_button = QPushButton("Side by side")
        self.save_button = QPushButton("Save to store…")
        self.save_button.setToolTip("write the sample with its results as a SpatialData "
                                    ".zarr store (a new one, or the one it came from)")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.warnings = warnings_label()
        self.colorbar = ColorbarCanvas()
        self.colorbar.setVisible(False)
        self.histology_note = QLabel("")
        self.histology_note.setWordWrap(True)
        self.histology_note.setStyleSheet(f"color: {WARNING_COLOR}")
        self.histology_note.setVisible(False)

        lay = QVBoxLayout(scroll_body(self))
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        lay.addWidget(QLabel("<b>Parameters</b>"))
        lay.addWidget(self.form.native)
        lay.addWidget(self.histology_note)
        lay.addWidget(self.run_opts.native)
        lay.addWidget(self.runner)
        lay.addWidget(QLabel("<b>Domains</b>"))
        lay.addWidget(self.legend)
        row = QHBoxLayout()
        row.addWidget(self.conf_opacity)
        row.addWidget(self.conf_layer)
        lay.addLayout(row)
        lay.addWidget(self.colorbar)
        row2 = QHBoxLayout()
        row2.addWidget(self.compare_with.native)
        row2.addWidget(self.compare_button)
        lay.addLayout(row2)
        lay.addWidget(self.save_button)
        lay.addWidget(self.summary)
        lay.addWidget(self.warnings)
        lay.addStretch(1)

        self.runner.run_button.clicked.connect(self.run)
        self.conf_opacity.toggled.connect(lambda _: self.show_result())
        self.conf_layer.clicked.connect(self.show_confidence_layer)
        self.compare_button.clicked.connect(self.compare)
        self.save_button.clicked.connect(self.save_to_store)
        self.sample.changed.connect(lambda _: self._refresh_columns())
        self.sample.changed.connect(lambda _: self._check_histology())
        self._refresh_columns()
        self._check_histology()

    @property
    def key(self) -> str:
        return self.run_opts.key_added.value.strip() or "domain"

    def _refresh_columns(self) -> None:
        layer = self.sample.layer
        cols = categorical_columns(layer.metadata["adata"]) if layer is not None else []
        self.compare_with.choices = [c for c in cols if c != self.key]

    def _check_histology(self) -> None:
        """Disable "use histology" (and say why) when the sample has no tissue image."""
        box = getattr(self.form, "use_histology", None)
        if box is None:
            return
        layer = self.sample.layer
        no_image = layer is not None and not has_tissue_image(layer.metadata["adata"])
        if no_image:
            box.value = False
            self.histology_note.setText(
                "no tissue image in this sample: 'use histology' is off "
                "(the spot graph uses positions and expression only)"
            )
        elif not box.enabled:  # switched off for an image-free sample: back to the default
            box.value = bool(_default(self.model_cls, "use_histology"))
        box.enabled = not no_image
        self.histology_note.setVisible(no_image)

    def run(self) -> None:
        """Train the model on the chosen sample in a worker thread."""
        from ...tl import run_model_iter

        try:
            adata = self.sample.adata
            model = self.model_cls(**self.form.values())
        except Exception as err:  # noqa: BLE001 - shown to the user
            report_error(err, "domains")
            return
        opts = {"seed": int(self.run_opts.seed.value), "device": self.run_opts.device.value,
                "key_added": self.key}
        self.runner.start(lambda: run_model_iter(adata, model, **opts), self.show_result,
                          where="domains")

    def show_result(self) -> None:
        """Colour the spots by the current result and fill the legend."""
        layer = self.sample.layer
        if layer is None or self.key not in layer.metadata["adata"].obs:
            return
        adata = layer.metadata["adata"]
        _, legend = show_categorical(self.viewer, layer, self.key,
                                     confidence_as_opacity=self.conf_opacity.isChecked())
        self.legend.set_legend(legend, adata.obs[self.key])
        info = adata.uns.get(self.key, {})
        parts = [f"{len(legend)} domains on {adata.n_obs} spots"]
        if "wall_time_s" in info:
            parts.append(f"{info['wall_time_s']:.1f} s on {info.get('device', '?')}")
        nets = info.get("networks")
        if nets is not None and len(nets["seed"]) > 1:
            kept = int(np.argmax(nets["kept"]))
            parts.append(f"kept network {kept + 1} of {len(nets['seed'])}, the most likely "
                         "partition (log-likelihood per spot: "
                         + ", ".join(f"{v:.4g}" for v in nets["log_likelihood"]) + ")")
        if "auto_k_scores" in info:
            parts.append(f"number of domains chosen by {info.get('auto_k_metric', 'score')}: "
                         + ", ".join(f"{k}: {v:.3g}" for k, v in dict(info['auto_k_scores']).items()))
        self.summary.setText("; ".join(parts))
        show_warnings(self.warnings, adata, self.key)
        self._refresh_columns()

    def show_confidence_layer(self) -> None:
        layer = self.sample.layer
        conf = f"{self.key}_confidence"
        if layer is None or conf not in layer.metadata["adata"].obs:
            report_error(_no_result(self.key), "domains")
            return
        values = layer.metadata["adata"].obs[conf].to_numpy()
        show_values(self.viewer, layer, values, conf, cmap="magma", clim=(0.0, 1.0))
        self.colorbar.set_colorbar("magma", (0.0, 1.0), f"{self.key} confidence")
        self.colorbar.setVisible(True)

    def compare(self) -> None:
        layer = self.sample.layer
        other = self.compare_with.value
        if layer is None or self.key not in layer.metadata["adata"].obs or not other:
            report_error(_no_result(self.key), "domains")
            return
        side_by_side(self.viewer, layer, [self.key, other])


    def save_to_store(self) -> None:
        """Open the "Save to SpatialData store" dock on this panel's sample."""
        from ..common.save_store import save_store_widget

        save_store_widget(self.viewer, self.sample.layer)


def has_tissue_image(adata) -> bool:
    """Whether ``adata`` has a tissue image that histology features can be read from."""
    from ...histology import best_image

    try:
        spatial = adata.uns.get("spatial") or {}
        return any(best_image(adata, lib) is not None for lib in spatial)
    except Exception:  # noqa: BLE001 - a malformed uns['spatial'] has no usable image
        return False


def _default(model_cls, name: str):
    return next((p.default for p in model_cls.params if p.name == name), None)


def _no_result(key):
    from ...errors import ScdlError

    return ScdlError(f"no '{key}' result yet: press 'Find domains' first")
