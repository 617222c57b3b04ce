"""Import / export buttons and the autosave status line of the Annotate widget."""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...annotations import io as aio
from ...errors import ScdlError

FILTERS = {
    "csv": "Loupe Browser CSV: barcode,category (*.csv)",
    "geojson": "QuPath GeoJSON polygons (*.geojson *.json)",
    "h5ad": "AnnData with the column (*.h5ad)",
}


def format_of(path: str | Path) -> str:
    """'csv', 'geojson' or 'h5ad' from a file name."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".geojson", ".json"):
        return "geojson"
    if suffix == ".h5ad":
        return "h5ad"
    raise ScdlError(f"cannot tell the format of {Path(path).name}: use .csv, .geojson or .h5ad")


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    return time.strftime("at %H:%M on %d %b", time.localtime(time.time() - seconds))


class AnnotationFiles(QWidget):
    """Import…, Export…, Project folder… and "autosaved 2 s ago to …".

    ``owner`` is the Annotate widget (``store``, ``column``, ``message()``, ``set_column()``).
    """

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Labels from a Loupe Browser CSV, QuPath GeoJSON or .h5ad")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip(
            "The column as CSV (Loupe Browser), GeoJSON (QuPath) or .h5ad"
        )
        self.folder_button = QPushButton("Project folder…")
        self.folder_button.setToolTip(
            "Autosave into a folder of your choice instead of next to the data"
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        for b in (self.import_button, self.export_button, self.folder_button):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.import_button.clicked.connect(self._ask_import)
        self.export_button.clicked.connect(self._ask_export)
        self.folder_button.clicked.connect(self._ask_folder)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.update_status)
        self.timer.start()

    # -- actions (the dialogs call these) ------------------------------------------------
    def import_file(
        self, path: str | Path, *, column: str | None = None, key: str | None = None
    ) -> aio.ImportReport:
        """Import labels into ``column`` (default: the current one, or the file's name)."""
        store = self.owner.store
        if store is None:
            raise ScdlError("open a sample first")
        fmt = format_of(path)
        column = column or self.owner.column or Path(path).stem
        if fmt == "csv":
            report = aio.import_csv(store, path, column)
        elif fmt == "geojson":
            report = aio.import_geojson(store, path, column)
        else:
            report = aio.import_h5ad(store, path, key or column, column)
        from napari.utils.notifications import show_info, show_warning

        self.owner.set_column(report.column)
        self.owner.message(str(report), error=report.n_unmatched > 0)
        (show_warning if report.n_unmatched else show_info)(str(report))
        return report

    def export_file(self, path: str | Path) -> Path:
        """Export the current column (CSV / GeoJSON) or the whole AnnData (.h5ad)."""
        store, column = self.owner.store, self.owner.column
        if store is None or not column:
            raise ScdlError("nothing to export: create or choose an annotation column first")
        fmt = format_of(path)
        if fmt == "csv":
            out = aio.export_csv(store, column, path)
        elif fmt == "geojson":
            out = aio.export_geojson(store, column, path)
        else:
            out = aio.export_h5ad(store, path)
        n = int(store.labels(column).notna().sum())
        self.owner.message(f"exported {column!r} ({n} labelled spots) to {out}")
        return Path(out)

    def update_status(self) -> None:
        store = self.owner.store
        if store is None or store.path is None:
            self.status.setText("")
            return
        path = store.path
        if path.is_file():
            text = f"autosaved {_ago(time.time() - path.stat().st_mtime)} to {path}"
        else:
            text = f"not edited yet; every edit is saved at once to {path}"
        self.status.setText(text)
        self.status.setToolTip(str(path))

    # -- dialogs ---------------------------------------------------------------------------
    def _run(self, what: str, fn, *args):
        from ..common.runner import report_error

        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.owner.message(report_error(err, what), error=True)
            return None

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import annotations", "", ";;".join(FILTERS.values())
        )
        if not path:
            return
        key = None
        if format_of(path) == "h5ad":
            cols = self._run("reading the .h5ad", _obs_columns, path)
            if not cols:
                return
            key, ok = QInputDialog.getItem(
                self, "Import from .h5ad", "column to import", cols, 0, False
            )
            if not ok:
                return
        column = self.owner.column or Path(path).stem
        column, ok = QInputDialog.getText(
            self, "Import annotations", "into annotation column (new or existing)", text=column
        )
        if ok and column.strip():
            self._run("import", lambda: self.import_file(path, column=column.strip(), key=key))

    def _ask_export(self) -> None:
        column = self.owner.column or "annotation"
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export annotations", f"{column}.csv", ";;".join(FILTERS.values())
        )
        if path:
            if not Path(path).suffix:
                path += {v: "." + k for k, v in FILTERS.items()}.get(chosen, ".csv")
            self._run("export", self.export_file, path)

    def _ask_folder(self) -> None:
        store = self.owner.store
        if store is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Autosave annotations into")
        if folder:
            path = self._run("choosing the project folder", store.move_to, folder)
            if path is not None:
                self.owner.message(f"annotations now autosave to {path}")
                self.update_status()


def _obs_columns(path) -> list[str]:
    import anndata as ad

    other = ad.read_h5ad(path, backed="r")
    try:
        return [str(c) for c in other.obs.columns]
    finally:
        other.file.close()
