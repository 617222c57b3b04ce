"""Save a sample (its AnnData with every result) as a SpatialData store, from the GUI.

A new ``.zarr`` by default (beside the input); back into the store the sample came from
only when the user ticks "into the store it came from". Either way the store is written
to a temporary sibling and swapped in at the end (:func:`napari_scdl.io.write_spatialdata`),
in the panel's runner thread. Reached from the Domains panel ("Save to store…") and from
File > IO Utilities > "Save sample to SpatialData store…" (napari.yaml).
"""

from __future__ import annotations

import time
from pathlib import Path

from napari.viewer import Viewer
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...errors import ScdlError
from ...layers import IMAGE_ROLE, LABELS_ROLE
from .panel import PanelMixin, scroll_body
from .runner import Runner, report_error
from .samples import SampleSelector, same_layer

DOCK_NAME = "Save to SpatialData store"


def default_target(adata) -> Path:
    """A new store beside the input: ``<input>_scdl.zarr`` (``_scdl2.zarr``, … if taken)."""
    src = Path((adata.uns.get("scdl") or {}).get("source") or Path.cwd() / "sample")
    stem = src.name.removesuffix(".zarr").removesuffix(".h5ad") or "sample"
    folder = src.parent
    for i in range(1, 1000):
        path = folder / f"{stem}_scdl{'' if i == 1 else i}.zarr"
        if not path.exists():
            return path
    return folder / f"{stem}_scdl.zarr"


class SaveStoreWidget(PanelMixin, QWidget):
    """Choose a sample and where to write it; "Save to store" writes it in a thread."""

    def __init__(self, napari_viewer, layer=None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.sample = SampleSelector(napari_viewer)
        self.target = QLineEdit()
        self.target.setPlaceholderText("new store: /path/to/result.zarr")
        self.target.setToolTip("the .zarr store to write (a new one; an existing store is "
                               "not replaced)")
        self.browse = QPushButton("Browse…")
        self.into_source = QCheckBox("into the store it came from")
        self.into_source.setToolTip("atomic: the new store is written beside it and swapped "
                                    "in only once complete")
        self.into_hint = QLabel("replaces its table; keeps its images, shapes, labels and "
                                "points")
        self.into_hint.setWordWrap(True)
        self.into_hint.setStyleSheet("color: gray")
        self.runner = Runner("Save to store")
        self.runner.cancel_button.setVisible(False)  # a write is not interruptible
        self.note = QLabel("")
        self.note.setWordWrap(True)

        lay = QVBoxLayout(scroll_body(self))
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        lay.addWidget(QLabel("<b>Write to</b>"))
        row = QHBoxLayout()
        row.addWidget(self.target)
        row.addWidget(self.browse)
        lay.addLayout(row)
        lay.addWidget(self.into_source)
        lay.addWidget(self.into_hint)
        lay.addWidget(self.note)
        lay.addWidget(self.runner)
        lay.addStretch(1)

        self.browse.clicked.connect(self._browse)
        self.into_source.toggled.connect(lambda _: self._update())
        self.sample.changed.connect(lambda _: self._sample_changed())
        self.runner.run_button.clicked.connect(self.save)
        self.select(layer)

    # -- choices -----------------------------------------------------------------------
    def select(self, layer) -> None:
        """Work on the sample of ``layer`` (a spots layer), if given."""
        if layer is not None:
            for i in range(self.sample.count()):
                if same_layer(self.sample.itemData(i), layer):
                    self.sample.setCurrentIndex(i)
                    break
        self._sample_changed()

    def _source(self):
        from ...io.spatialdata import source_store

        layer = self.sample.layer
        return source_store(layer.metadata["adata"]) if layer is not None else None

    def _sample_changed(self) -> None:
        layer = self.sample.layer
        src = self._source()
        self.into_source.blockSignals(True)
        self.into_source.setChecked(False)  # never carried over to another sample
        self.into_source.blockSignals(False)
        self.into_source.setEnabled(src is not None)
        if layer is not None:
            self.target.setText(str(default_target(layer.metadata["adata"])))
        self._update()

    def _update(self) -> None:
        src = self._source()
        into = self.into_source.isChecked() and src is not None
        self.target.setEnabled(not into)
        self.browse.setEnabled(not into)
        if into:
            self.note.setText(f"saves into {src} (its table is replaced)")
        elif src is None and self.sample.layer is not None:
            self.note.setText("this sample was not read from a SpatialData store: it is "
                              "written as a new one (spots as circles, the tissue image)")
        else:
            self.note.setText("")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save as SpatialData store",
                                              self.target.text(), "SpatialData (*.zarr)")
        if path:
            self.target.setText(path if path.endswith(".zarr") else f"{path}.zarr")

    def destination(self) -> tuple[Path | None, bool]:
        """(path, into the source store) as chosen now."""
        src = self._source()
        if self.into_source.isChecked() and src is not None:
            return src, True
        text = self.target.text().strip()
        return (Path(text).expanduser() if text else None), False

    # -- saving ------------------------------------------------------------------------
    def save(self) -> None:
        """Write the chosen sample to the chosen store (in the runner's thread)."""
        from ...io import write_spatialdata
        from ...models import Progress

        layer = self.sample.layer
        path, into = self.destination()
        try:
            if layer is None:
                raise ScdlError("no sample is open: open a SpatialData store, Xenium, Visium "
                                "or .h5ad sample first (File > Open)")
            if path is None:
                raise ScdlError("choose the .zarr store to write (or tick 'into the store it "
                                "came from')")
            if not into and path.suffix != ".zarr":
                raise ScdlError(f"{path.name}: a SpatialData store is a folder ending in "
                                ".zarr; choose e.g. {path.with_suffix('.zarr').name}")
            if not into and path.exists():
                raise ScdlError(f"{path} exists: choose another name (only the store the "
                                "sample came from is ever replaced, when you tick it)")
        except ScdlError as err:
            self.runner.status.setText(report_error(err, "saving"))
            return
        adata = layer.metadata["adata"]
        self._started = time.perf_counter()

        def work():
            yield Progress(0, 1, f"writing {path.name}…")
            write_spatialdata(adata, path, overwrite=into, into_source=into)
            yield Progress(1, 1, f"wrote {path.name}")

        self.runner.start(work, lambda: self._saved(layer, path, into), where="saving the store")

    def _saved(self, layer, path: Path, into: bool) -> None:
        adata = layer.metadata["adata"]
        if into:
            refresh_store_layers(self.viewer, adata)
        results = [c for c in adata.obs.columns if c in adata.uns or c.endswith("_confidence")]
        what = f" with {', '.join(results)}" if results else ""
        self.runner.status.setText(
            f"saved {adata.n_obs} rows x {adata.n_vars} genes{what} to {path} in "
            f"{time.perf_counter() - self._started:.1f} s")
        self.last_saved = path


def refresh_store_layers(viewer, adata) -> int:
    """Point the image and labels layers of ``adata``'s sample at its (rewritten) store.

    A store written anew may use another zarr format than the one the layers were opened
    from; their lazy arrays would read nothing. Returns the number of layers refreshed."""
    from ...layers import _sample_id, cell_layers, image_layers

    sid = _sample_id(adata)
    fresh = {}
    for data, kw, _ in [*image_layers(adata), *cell_layers(adata)]:
        meta = kw.get("metadata") or {}
        fresh[(meta.get("scdl_role"), meta.get("element") or meta.get("resolution"))] = data
    n = 0
    for ly in viewer.layers:
        meta = ly.metadata
        if meta.get("sample_id") != sid or meta.get("scdl_role") not in (IMAGE_ROLE, LABELS_ROLE):
            continue
        key = (meta.get("scdl_role"), meta.get("element") or meta.get("resolution"))
        if key in fresh:
            ly.data = fresh[key]
            n += 1
    return n


def save_store_widget(viewer, layer=None) -> SaveStoreWidget:
    """The "Save to SpatialData store" dock of ``viewer`` (docked if needed), showing the
    sample of ``layer``."""
    viewer = getattr(viewer, "__wrapped__", viewer)  # a plugin's PublicOnlyProxy
    window = viewer.window
    for dock in list(getattr(window, "_dock_widgets", {}).values()):
        w = dock.widget()
        inner = getattr(w, "inner_widget", None) or w
        found = inner if isinstance(inner, SaveStoreWidget) else w.findChild(SaveStoreWidget)
        if found is not None:
            found.select(layer)
            dock.show()
            dock.raise_()
            return found
    widget = SaveStoreWidget(viewer, layer)
    window.add_dock_widget(widget, name=DOCK_NAME, area="right", tabify=True)
    return widget


def open_save_store(viewer: Viewer) -> None:
    """File > IO Utilities > "Save sample to SpatialData store…" (napari.yaml)."""
    save_store_widget(viewer, viewer.layers.selection.active)
