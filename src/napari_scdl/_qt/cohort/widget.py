"""Dock widget: joint domains over the open slides (issue 15, cohorts).

Tick the slides, choose the number of domains, run: one model over all of them
(:func:`napari_scdl.tl.cohort_domains`), the same colour for the same domain on every
slide, one legend, the slides side by side and the domain proportions per slide.

**Run on** ``this process`` trains here (a thread worker); ``dask: local cluster`` or
``dask: scheduler`` goes through the command line's runner
(:func:`napari_scdl.cohort.run_cohort_iter`: per-slide tasks on dask.distributed, outputs in
the output folder, resumable), with each slide's state in the table and Cancel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, LineEdit, SpinBox
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..common.legend import LegendTable
from ..common.panel import PanelMixin, scroll_body
from ..common.result_layers import show_categorical
from ..common.runner import Runner, report_error
from ..common.samples import image_layers_of, spot_layers

KEY = "domain"
RUN_HERE, RUN_LOCAL, RUN_SCHEDULER = "this process", "dask: local cluster", "dask: scheduler"


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
            ComboBox(name="correction", choices=["center", "harmony", "none"], value="center",
                     label="slide correction",
                     tooltip="center: genes centred per slide; harmony: centred, then "
                     "Harmony on the PCs (harmonypy); none: no correction"),
            ComboBox(name="run_on", choices=[RUN_HERE, RUN_LOCAL, RUN_SCHEDULER],
                     value=RUN_HERE, label="run on",
                     tooltip="this process: train here; dask: per-slide tasks on "
                     "dask.distributed (a local cluster, or the scheduler below), outputs "
                     "written to the output folder as napari-scdl cohort does"),
            LineEdit(name="scheduler", value="", label="scheduler",
                     tooltip="address of a running dask scheduler, e.g. tcp://host:8786 "
                     "(its workers must see the slides' files)"),
            SpinBox(name="workers", value=2, min=1, max=64, label="local workers"),
            LineEdit(name="out_dir", value="", label="output folder",
                     tooltip="where the dask run writes <sample_id>.h5ad, figures and the "
                     "summary (empty: a new temporary folder); a rerun resumes"),
        ])
        #: local dask workers as processes (False: threads of this process)
        self.processes = True
        self.status_table = QTableWidget(0, 2)
        self.status_table.setHorizontalHeaderLabels(["slide", "state"])
        self.status_table.horizontalHeader().setStretchLastSection(True)
        self.status_table.verticalHeader().setVisible(False)
        self.status_table.setVisible(False)
        self.status_table.setMinimumHeight(90)
        self._cancel_event = None
        self.out_dir: Path | None = None
        self.slide_events: list[tuple[str, str]] = []  # (slide, state) of the last dask run
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
        lay.addWidget(self.status_table)
        lay.addWidget(QLabel("<b>Domains (all slides)</b>"))
        lay.addWidget(self.legend)
        lay.addWidget(self.summary)
        lay.addWidget(self.plot)
        lay.addStretch(1)

        self.runner.run_button.clicked.connect(self.run)
        self.runner.cancel_button.clicked.connect(self._cancel)
        self.opts.run_on.changed.connect(self._sync_run_on)
        self._sync_run_on()
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
              "seed": int(o.seed.value), "device": o.device.value,
              "correction": o.correction.value}
        self._layers = layers
        self.result = None
        if o.run_on.value != RUN_HERE:
            self._run_dask(dict(zip(ids, adatas, strict=True)), kw)
            return

        def work():
            yield from cohort_domains_iter(adatas, on_result=self._keep, sample_ids=ids, **kw)

        self.status_table.setVisible(False)
        self.runner.start(work, self.show_result, where="cohort")

    def _sync_run_on(self, *_) -> None:
        mode = self.opts.run_on.value
        self.opts.scheduler.visible = mode == RUN_SCHEDULER
        self.opts.workers.visible = mode == RUN_LOCAL
        self.opts.out_dir.visible = mode != RUN_HERE

    def _run_dask(self, adatas: dict, kw: dict) -> None:
        """The cohort through the dask runner (in the runner's thread worker): slides not
        on disk are written to ``OUT/.cohort/inputs/`` first; the results are read back from
        ``OUT/<sample_id>.h5ad`` into the open slides."""
        import tempfile
        import threading

        from ...cohort import run_cohort_iter
        from ...errors import ScdlError

        o = self.opts
        scheduler = o.scheduler.value.strip() if o.run_on.value == RUN_SCHEDULER else None
        if o.run_on.value == RUN_SCHEDULER and not scheduler:
            report_error(ScdlError("type the address of a running dask scheduler (e.g. "
                                   "tcp://host:8786), or run on a local cluster"), "cohort")
            return
        out = Path(o.out_dir.value.strip()) if o.out_dir.value.strip() else Path(
            tempfile.mkdtemp(prefix="napari-scdl-cohort-"))
        self.out_dir = out
        self._cancel_event = cancel = threading.Event()
        run_kw = kw | {"out_dir": out, "scheduler": scheduler, "workers": int(o.workers.value),
                       "processes": self.processes, "use_histology": True}
        self._set_rows({sid: "waiting" for sid in adatas})
        self.slide_events: list[tuple[str, str]] = []

        def work():
            manifest = _write_inputs(adatas, out)
            run = yield from run_cohort_iter(manifest, cancel=cancel, **run_kw)
            self.result = _read_back(run, adatas, out)

        self.runner.start(work, self.show_result, where="cohort")
        if self.runner.worker is not None:
            self.runner.worker.yielded.connect(self._on_slide_event)

    def _cancel(self) -> None:
        if self._cancel_event is not None:
            self._cancel_event.set()

    def _set_rows(self, states: dict[str, str]) -> None:
        t = self.status_table
        t.setRowCount(len(states))
        for r, (sid, state) in enumerate(states.items()):
            t.setItem(r, 0, QTableWidgetItem(sid))
            t.setItem(r, 1, QTableWidgetItem(state))
        t.setVisible(True)

    def slide_states(self) -> dict[str, str]:
        """Slide -> its state in the table (``waiting``, ``prepared``, ``done`` ...)."""
        t = self.status_table
        rows = [(t.item(r, 0), t.item(r, 1)) for r in range(t.rowCount())]
        return {a.text(): b.text() for a, b in rows if a is not None and b is not None}

    def _on_slide_event(self, p) -> None:
        sid, status = getattr(p, "sample_id", ""), getattr(p, "status", "")
        self.slide_events.append((sid, status))
        t = self.status_table
        for r in range(t.rowCount()):
            if t.item(r, 0).text() == sid:
                text = status if status != "failed" else f"failed: {p.message.split(': ', 2)[-1]}"
                t.setItem(r, 1, QTableWidgetItem(text))

    def _keep(self, result) -> None:
        self.result = result

    def show_result(self) -> None:
        """Each slide coloured by the cohort's domains, side by side, one legend, the plot."""
        if self.result is None:
            return
        res, offset, legend = self.result, 0.0, {}
        for ly in self._layers:
            if KEY not in ly.metadata["adata"].obs:
                continue
            sid = ly.metadata.get("sample_id")
            images = image_layers_of(self.viewer, sid)
            ext = (images[0] if images else ly).extent.world
            dx = offset - float(ext[0][1])
            layer, legend = show_categorical(self.viewer, ly, KEY)
            # every layer of the slide moves together (images, spots, earlier results,
            # annotations), so nothing of it is left behind at the old place
            own = [x for x in self.viewer.layers if x.metadata.get("sample_id") == sid]
            for x in own if sid is not None else (ly, layer):
                t = np.asarray(x.translate, dtype=float).copy()
                t[-1] += dx
                x.translate = t
            offset += float(ext[1][1] - ext[0][1]) * 1.08
        labels = pd.concat([a.obs[KEY] for a in res.adatas.values()])
        self.legend.set_legend(legend, labels.astype(str))
        n = sum(a.n_obs for a in res.adatas.values())
        where = f"; outputs in {res.params['out_dir']}" if "out_dir" in res.params else ""
        failed = [s for s, v in res.params.get("status", {}).items() if v == "failed"]
        self.summary.setText(f"{len(legend)} domains on {n} spots of {len(res.adatas)} slides "
                             f"(cohort {res.cohort_id}); the same colour is the same domain "
                             "on every slide" + where
                             + (f"; failed: {', '.join(failed)}" if failed else ""))
        self._plot(legend)
        self.viewer.reset_view()

    def _plot(self, legend: dict[str, str]) -> None:
        from ...tl.cohort import plot_proportions

        fig = plot_proportions(self.result.proportions, key=KEY, colors=legend)
        self.plot.figure = fig
        fig.set_canvas(self.plot)
        self.plot.draw()
        self.plot.setVisible(True)


def _write_inputs(adatas: dict, out: Path) -> pd.DataFrame:
    """The manifest of the dask run: each slide's own file when it still exists, else the
    open AnnData written to ``out/.cohort/inputs/<sample_id>.h5ad``."""
    from ...cohort._tasks import atomic_write_h5ad

    rows = []
    for sid, a in adatas.items():
        src = (a.uns.get("scdl") or {}).get("source", "")
        if not src or not Path(src).exists():
            inputs = out / ".cohort" / "inputs"
            inputs.mkdir(parents=True, exist_ok=True)
            src = str(atomic_write_h5ad(a, inputs / f"{sid}.h5ad"))
        rows.append({"sample_id": sid, "path": src})
    return pd.DataFrame(rows, columns=["sample_id", "path"])


def _read_back(run, adatas: dict, out: Path):
    """Copy the run's domains from ``out/<sample_id>.h5ad`` into the open slides; a
    :class:`~napari_scdl.tl.cohort.CohortResult` of the slides that finished."""
    import anndata as ad

    from ...errors import ScdlError
    from ...tl.cohort import CohortResult, domain_proportions

    done = {}
    for sid, a in adatas.items():
        if run.status.get(sid) not in ("done", "skipped"):
            continue
        res = ad.read_h5ad(out / f"{sid}.h5ad")
        if not res.obs_names.equals(a.obs_names):
            raise ScdlError(f"{out / f'{sid}.h5ad'} has other spots than the open slide "
                            f"{sid}; choose an empty output folder")
        for col in (KEY, f"{KEY}_confidence"):
            if col in res.obs:
                a.obs[col] = res.obs[col].to_numpy()
        a.obs[KEY] = pd.Categorical(a.obs[KEY].astype(str),
                                    categories=list(res.obs[KEY].cat.categories))
        if f"X_{KEY}" in res.obsm:
            a.obsm[f"X_{KEY}"] = res.obsm[f"X_{KEY}"]
        a.uns[KEY] = res.uns[KEY]
        done[sid] = a
    if len(done) < 2:
        raise ScdlError("the cohort run finished on fewer than 2 slides: "
                        + "; ".join(f"{k}: {v}" for k, v in run.errors.items()))
    markers = out / "cohort_markers.csv"
    return CohortResult(
        cohort_id=run.cohort_id, adatas=done, proportions=domain_proportions(done, key=KEY),
        markers=pd.read_csv(markers) if markers.exists() else pd.DataFrame(),
        model=None, params={"out_dir": str(out), "status": dict(run.status)},
    )


def _sample_name(layer) -> str:
    info = layer.metadata["adata"].uns.get("scdl") or {}
    return str(info.get("library_id") or layer.name.removesuffix(" spots"))
