"""Dock widget "Learn & review": predict every spot from a partial annotation, accept the
prediction, review the spots the model is least sure of, retrain, explain a category."""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, SpinBox
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ...annotations import AnnotationStore
from ...colors import paint_categorical, sync_features
from ...errors import ScdlError
from ...models import get_model
from ..common.panel import PanelMixin, scroll_body
from ..common.param_form import ParamForm
from ..common.plot_canvas import ColorbarCanvas
from ..common.result_layers import result_layer, show_values
from ..common.runner import Runner, report_error
from ..common.samples import SampleSelector
from ..common.store_link import switch_store
from .explain_panel import ExplainPanel
from .queue import ReviewQueue

MODEL = "semisup_gnn"
KEY = "predicted_label"
#: default minimum confidence of "Accept into annotation": a one-click accept must not copy
#: near coin-flip predictions (issue 12); the confidence is the model's calibrated probability
MIN_CONFIDENCE = 0.8
CONF = "predicted_confidence"
_FORM = ["epochs", "n_ensemble", "k_hops", "n_top_genes"]


class ReviewWidget(PanelMixin, QWidget):
    """Semi-supervised prediction, accept, active-learning review queue, explain."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.store: AnnotationStore | None = None
        self.sample = SampleSelector(napari_viewer)
        self.columns = QComboBox()
        self.columns.setToolTip("The partial annotation to learn from (made in Annotate)")
        self.form = ParamForm(get_model(MODEL).params, only=_FORM)
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="seed")
        self.device = ComboBox(choices=["auto", "cpu", "cuda"], value="auto", label="device")
        self.runner = Runner("Predict all spots")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.only_unlabelled = QCheckBox("only unlabelled spots")
        self.only_unlabelled.setChecked(True)
        self.min_conf = QDoubleSpinBox()
        self.min_conf.setRange(0.0, 1.0)
        self.min_conf.setSingleStep(0.05)
        self.min_conf.setValue(MIN_CONFIDENCE)
        self.accept_note = QLabel("")
        self.accept_note.setWordWrap(True)
        self.min_conf.setToolTip("accept only spots predicted at least this confidently")
        self.accept_button = QPushButton("Accept into annotation")
        self.conf_button = QPushButton("Confidence layer")
        self.colorbar = ColorbarCanvas()
        self.colorbar.setVisible(False)
        self.n_suggest = QComboBox()
        self.n_suggest.addItems(["5", "10", "20", "50"])
        self.n_suggest.setCurrentText("10")
        self.strategy = QComboBox()
        self.strategy.addItems(["diverse", "uncertainty", "random"])
        self.strategy.setToolTip("diverse: the least certain spot of each distinct region")
        self.suggest_button = QPushButton("Suggest spots")
        self.queue = ReviewQueue(self)
        self.retrain_button = QPushButton("Retrain with the new labels")
        self.explain = ExplainPanel(self)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._layout()

        self.sample.changed.connect(self._set_sample)
        self.columns.currentTextChanged.connect(lambda _: self._refresh_categories())
        self.runner.run_button.clicked.connect(self.predict)
        self.retrain_button.clicked.connect(self.predict)
        self.accept_button.clicked.connect(lambda: self._guard("accept", self.accept))
        self.conf_button.clicked.connect(lambda: self._guard("confidence", self.show_confidence))
        self.suggest_button.clicked.connect(lambda: self._guard("suggest", self.suggest))
        self.min_conf.valueChanged.connect(lambda _: self.update_accept_count())
        self.only_unlabelled.toggled.connect(lambda _: self.update_accept_count())
        self.columns.currentTextChanged.connect(lambda _: self.update_accept_count())
        self._set_sample(self.sample.layer)

    def _layout(self) -> None:
        lay = QVBoxLayout(scroll_body(self))
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        row = QHBoxLayout()
        row.addWidget(QLabel("learn from"))
        row.addWidget(self.columns, 1)
        lay.addLayout(row)
        settings = QCollapsible("Model settings")
        settings.addWidget(self.form.native)
        settings.addWidget(Container(widgets=[self.seed, self.device], labels=True).native)
        settings.collapse(animate=False)
        lay.addWidget(settings)
        lay.addWidget(self.runner)
        lay.addWidget(self.summary)
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addWidget(self.only_unlabelled)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("min. confidence"))
        row.addWidget(self.min_conf)
        row.addWidget(self.conf_button)
        lay.addLayout(row)
        lay.addWidget(self.accept_note)
        lay.addWidget(self.colorbar)
        lay.addWidget(QLabel("<b>Review the spots the model is least sure of</b>"))
        row = QHBoxLayout()
        for w in (QLabel("N"), self.n_suggest, self.strategy, self.suggest_button):
            row.addWidget(w)
        lay.addLayout(row)
        lay.addWidget(self.queue)
        lay.addWidget(self.retrain_button)
        lay.addWidget(self.status)
        self.explain_box = QCollapsible("Explain a category")
        self.explain_box.addWidget(self.explain)
        self.explain_box.collapse(animate=False)
        lay.addWidget(self.explain_box)
        lay.addStretch(1)

    # -- state -----------------------------------------------------------------------------
    @property
    def column(self) -> str:
        return self.columns.currentText()

    def message(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e06666" if error else "")

    def _guard(self, what: str, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.message(report_error(err, what), error=True)

    def _set_sample(self, layer) -> None:
        self.store = switch_store(
            self.store, layer, self._on_store_event, lambda m: self.message(m, error=True)
        )
        self.queue.table = None  # suggestions belong to the previous sample
        self._refresh_columns()

    def _on_store_event(self, ev) -> None:
        self.update_accept_count()
        if ev.kind in ("columns", "loaded"):
            self._refresh_columns()
        elif ev.kind == "categories":
            self._refresh_categories()

    def _refresh_columns(self) -> None:
        keep = self.column
        names = self.store.columns if self.store is not None else []
        self.columns.blockSignals(True)
        self.columns.clear()
        self.columns.addItems(names)
        if keep in names:
            self.columns.setCurrentText(keep)
        self.columns.blockSignals(False)
        self._refresh_categories()
        self.update_accept_count()

    def _refresh_categories(self) -> None:
        cats = self.queue.categories()
        self.explain.set_categories(cats)
        self.queue.update_keys()

    def _need(self) -> AnnotationStore:
        if self.store is None or not self.column:
            raise ScdlError(
                "create an annotation column in the Annotate panel (New column…) "
                "and label a few regions first"
            )
        return self.store

    # -- predict / accept ---------------------------------------------------------------------
    def predict(self) -> None:
        """Train the semi-supervised GNN on the labelled spots of the column (worker thread)."""
        from ...tl import propagate_iter

        try:
            store = self._need()
            labelled = store.counts(self.column)
            if (labelled > 0).sum() < 2:
                raise ScdlError(
                    f"label spots of at least 2 categories in {self.column!r} first "
                    f"(now: {dict(labelled[labelled > 0])})"
                )
            params = self.form.values()
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.message(report_error(err, "predict"), error=True)
            return
        adata, column = store.adata, self.column
        opts = {"seed": int(self.seed.value), "device": self.device.value, "key_added": KEY}
        self.runner.start(
            lambda: propagate_iter(adata, column, **opts, **params),
            self.show_prediction,
            where="predict",
        )

    def show_prediction(self) -> None:
        """Colour the spots by the prediction (annotation colours), opacity = confidence."""
        spots, store = self.sample.layer, self.store
        if spots is None or store is None or KEY not in store.adata.obs:
            return
        adata = store.adata
        colors = store.colors(self.column) if self.column in store.columns else {}
        cats = list(adata.obs[KEY].cat.categories)
        if all(c in colors for c in cats):
            adata.uns[f"{KEY}_colors"] = [colors[c] for c in cats]
        layer = result_layer(
            self.viewer, spots, KEY, name=f"{spots.name.removesuffix(' spots')} · prediction"
        )
        conf = adata.obs[CONF].to_numpy(dtype=float)
        paint_categorical(layer, adata, KEY, alpha=0.2 + 0.8 * conf)
        sync_features(layer, adata, [KEY, CONF])
        layer.refresh()
        info = adata.uns.get(KEY, {})
        n_lab = len(info.get("labelled_index", []))
        self.summary.setText(
            f"predicted {adata.n_obs} spots from {n_lab} labelled ({len(cats)} categories); "
            f"mean confidence {np.nanmean(conf):.2f}; {int((conf < 0.6).sum())} spots below 0.6"
            + (
                f"; {info['wall_time_s']:.1f} s on {info.get('device', '?')}"
                if "wall_time_s" in info
                else ""
            )
        )
        self.message("faint spots are uncertain: press 'Suggest spots' to review them")
        self.update_accept_count()

    def show_confidence(self) -> None:
        adata = self._need().adata
        if CONF not in adata.obs:
            raise ScdlError("no prediction yet: press 'Predict all spots' first")
        show_values(
            self.viewer,
            self.sample.layer,
            adata.obs[CONF].to_numpy(),
            CONF,
            cmap="magma",
            clim=(0.0, 1.0),
        )
        self.colorbar.set_colorbar("magma", (0.0, 1.0), "prediction confidence")
        self.colorbar.setVisible(True)

    def accept_mask(self) -> np.ndarray | None:
        """The spots 'Accept into annotation' would copy now (None: nothing predicted)."""
        store = self.store
        if store is None or not self.column or self.column not in store.columns:
            return None
        obs = store.adata.obs
        if KEY not in obs:
            return None
        ok = obs[KEY].notna().to_numpy()
        if CONF in obs:
            ok &= obs[CONF].to_numpy(dtype=float) >= self.min_conf.value()
        if self.only_unlabelled.isChecked():
            ok &= obs[self.column].isna().to_numpy()
        return ok

    def update_accept_count(self) -> int | None:
        """Say on the button and under it how many spots would be accepted."""
        ok = self.accept_mask()
        if ok is None:
            self.accept_button.setText("Accept into annotation")
            self.accept_button.setEnabled(False)
            self.accept_note.setText("")
            return None
        n, total = int(ok.sum()), len(ok)
        self.accept_button.setText(f"Accept {n} spots into annotation")
        self.accept_button.setEnabled(n > 0)
        which = "unlabelled " if self.only_unlabelled.isChecked() else ""
        self.accept_note.setText(
            f"{n} of {total} spots ({which}predicted with confidence ≥ "
            f"{self.min_conf.value():.2f}) will be accepted"
            + ("; lower the minimum confidence to accept more" if n == 0 else "")
        )
        return n

    def accept(self) -> int:
        """Copy the prediction into the annotation column (one undoable edit)."""
        store = self._need()
        n = store.accept_prediction(
            self.column,
            KEY,
            min_confidence=self.min_conf.value(),
            only_unlabelled=self.only_unlabelled.isChecked(),
        )
        self.message(
            f"accepted the prediction for {n} spots into {self.column!r} "
            f"(confidence ≥ {self.min_conf.value():.2f}; Ctrl+Z in Annotate undoes)"
        )
        self.update_accept_count()
        return n

    # -- active learning ------------------------------------------------------------------------
    def suggest(self) -> int:
        """Suggest the spots to label next and start the review queue."""
        from ...tl import suggest_spots

        store = self._need()
        labelled = np.flatnonzero(store.adata.obs[self.column].notna().to_numpy())
        table = suggest_spots(
            store.adata,
            n=int(self.n_suggest.currentText()),
            key=KEY,
            strategy=self.strategy.currentText(),
            seed=int(self.seed.value),
            exclude=labelled,
        )
        if not len(table):
            raise ScdlError("no unlabelled spot left to suggest")
        self.queue.set_suggestions(table)
        self.message(f"{len(table)} spots to review: label each with its number key")
        return len(table)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.store is not None:
            self.store.events.disconnect(self._on_store_event)
        super().closeEvent(event)
