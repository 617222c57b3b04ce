"""Dock widget: joint domains over the open slides (issue 15, cohorts).

Tick the slides, choose the number of domains, run: one model over all of them
(:func:`napari_scdl.tl.cohort_domains`), the same colour for the same domain on every
slide, one legend, the slides side by side and the domain proportions per slide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, SpinBox
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..common.legend import LegendTable
from ..common.panel import PanelMixin, scroll_body
from ..common.result_layers import show_categorical
from ..common.runner import Runner, report_error
from ..common.samples import image_layers_of, spot_layers

KEY = "domain"


class CohortWidget(PanelMixin, QWidget):
    """Joint domains over several slides, compared side by side with one legend."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.slides = QListWidget()
        self.slides.setToolTip("the open slides; ticked ones form the cohort")
        self.opts = Container(widgets=[
            SpinBox(name="n_domains", value=7, min=0, max=50, label="domains",
                    tooltip="number of domains over the cohort (0: choose automatically)"),
            SpinBox(name="epochs", value=600, min=1, max=5000, label="epochs"),
            SpinBox(name="seed", value=0, min=0, max=2**31 - 1, label="seed"),
            ComboBox(name="device", choices=["auto", "cpu", "cuda"], value="auto",
                     label="device"),
        ])
        self.runner = Runner("Find joint domains")
        self.save_button = QPushButton("Save manifest…")
        self.save_button.setToolTip("write sample_id,path of the ticked slides (for the "
                                    "command line: napari-scdl cohort MANIFEST.csv ...)")
        self.legend = LegendTable()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.plot = FigureCanvasQTAgg()
        self.plot.setMinimumHeight(220)
        self.plot.setVisible(False)
        self.result = None

        lay = QVBoxLayout(scroll_body(self))
        lay.addWidget(QLabel("<b>Slides</b>"))
        lay.addWidget(self.slides)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        lay.addLayout(row)
        lay.addWidget(QLabel("<b>Parameters</b>"))
        lay.addWidget(self.opts.native)
        lay.addWidget(self.runner)
        lay.addWidget(QLabel("<b>Domains (all slides)</b>"))
        lay.addWidget(self.legend)
        lay.addWidget(self.summary)
        lay.addWidget(self.plot)
        lay.addStretch(1)

        self.runner.run_button.clicked.connect(self.run)
        self.save_button.clicked.connect(lambda: self.save_manifest())
        napari_viewer.layers.events.inserted.connect(self._refresh)
        napari_viewer.layers.events.removed.connect(self._refresh)
        self._refresh()

    # -- slides ----------------------------------------------------------------------------
    def _refresh(self, *_) -> None:
        ticked = {it.text(): it.checkState() for it in self._items()}
        self.slides.clear()
        for ly in spot_layers(self.viewer):
            item = QListWidgetItem(ly.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(ticked.get(ly.name, Qt.CheckState.Checked))
            item.setData(Qt.ItemDataRole.UserRole, ly)
            self.slides.addItem(item)

    def _items(self) -> list[QListWidgetItem]:
        return [self.slides.item(i) for i in range(self.slides.count())]

    def chosen_layers(self) -> list:
        return [it.data(Qt.ItemDataRole.UserRole) for it in self._items()
                if it.checkState() == Qt.CheckState.Checked]

    def manifest(self) -> pd.DataFrame:
        """``sample_id,path`` of the ticked slides (the file each was read from)."""
        rows = []
        for ly in self.chosen_layers():
            info = ly.metadata["adata"].uns.get("scdl") or {}
            rows.append({"sample_id": _sample_name(ly), "path": info.get("source", "")})
        return pd.DataFrame(rows, columns=["sample_id", "path"])

    def save_manifest(self, path: str | Path | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save cohort manifest",
                                                  "manifest.csv", "CSV (*.csv)")
            if not path:
                return None
        self.manifest().to_csv(path, index=False)
        return Path(path)

    # -- run -------------------------------------------------------------------------------
    def run(self) -> None:
        from ...tl.cohort import cohort_domains_iter

        layers = self.chosen_layers()
        if len(layers) < 2:
            from ...errors import ScdlError

            report_error(ScdlError("tick at least 2 open slides to form a cohort "
                                   f"({len(layers)} ticked)"), "cohort")
            return
        adatas = [ly.metadata["adata"] for ly in layers]
        ids = [_sample_name(ly) for ly in layers]
        o = self.opts
        kw = {"n_domains": int(o.n_domains.value), "epochs": int(o.epochs.value),
              "seed": int(o.seed.value), "device": o.device.value, "sample_ids": ids}

        def work():
            yield from cohort_domains_iter(adatas, on_result=self._keep, **kw)

        self._layers = layers
        self.runner.start(work, self.show_result, where="cohort")

    def _keep(self, result) -> None:
        self.result = result

    def show_result(self) -> None:
        """Each slide coloured by the cohort's domains, side by side, one legend, the plot."""
        if self.result is None:
            return
        res, offset, legend = self.result, 0.0, {}
        for ly in self._layers:
            images = [im for im in image_layers_of(self.viewer, ly.metadata.get("sample_id"))]
            ext = (images[0] if images else ly).extent.world
            shift = np.array([0.0, offset - float(ext[0][1])])
            for im in images:
                im.translate = np.asarray(im.translate) + shift
            layer, legend = show_categorical(self.viewer, ly, KEY)
            for spots in (ly, layer):
                spots.translate = np.asarray(spots.translate) + shift
            offset += float(ext[1][1] - ext[0][1]) * 1.08
        labels = pd.concat([a.obs[KEY] for a in res.adatas.values()])
        self.legend.set_legend(legend, labels.astype(str))
        n = sum(a.n_obs for a in res.adatas.values())
        self.summary.setText(f"{len(legend)} domains on {n} spots of {len(res.adatas)} slides "
                             f"(cohort {res.cohort_id}); the same colour is the same domain "
                             "on every slide")
        self._plot(legend)
        self.viewer.reset_view()

    def _plot(self, legend: dict[str, str]) -> None:
        from ...tl.cohort import plot_proportions

        fig = plot_proportions(self.result.proportions, key=KEY, colors=legend)
        self.plot.figure = fig
        fig.set_canvas(self.plot)
        self.plot.draw()
        self.plot.setVisible(True)


def _sample_name(layer) -> str:
    info = layer.metadata["adata"].uns.get("scdl") or {}
    return str(info.get("library_id") or layer.name.removesuffix(" spots"))
