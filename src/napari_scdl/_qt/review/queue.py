"""The active-learning review queue: step the view to each suggested spot, label it with
one key press (1..9), advance.

The suggestions are drawn as rings in their own Points layer ("review queue"); the
current one is larger and yellow. While the queue layer is the active layer, the number
keys label the current spot (they override napari's layer shortcuts only there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

QUEUE_ROLE = "review_queue"
_RING = "#ffffffcc"
_CURRENT = "#ffff00"
FIELD_OF_VIEW_SPOTS = 20  # spots across the view when stepping to a suggestion


class ReviewQueue(QWidget):
    """Previous / Next / Skip, the current suggestion and the key legend.

    ``owner`` (the review widget) provides ``viewer``, ``sample`` (SampleSelector),
    ``store``, ``column`` and ``message()``.
    """

    def __init__(self, owner, parent=None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.viewer = owner.viewer
        self.table: pd.DataFrame | None = None
        self.pos = 0
        self.prev_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("skip this spot without labelling it")
        self.current = QLabel("No suggestions yet: press 'Suggest spots'.")
        self.current.setWordWrap(True)
        self.keys = QLabel("")
        self.keys.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.current)
        lay.addLayout(row)
        lay.addWidget(self.keys)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self._enable()

    # -- queue ----------------------------------------------------------------------------
    def set_suggestions(self, table: pd.DataFrame) -> None:
        """Start a queue from :func:`napari_scdl.tl.suggest_spots`'s table."""
        self.table = table.reset_index()
        self.pos = 0
        layer = self.layer(create=True)
        self.viewer.layers.selection.active = layer
        self.update_keys()
        self.go(0)

    def layer(self, create: bool = False):
        """The Points layer drawing the suggestions as rings."""
        spots = self.owner.sample.layer
        if spots is None:
            return None
        sid = spots.metadata.get("sample_id")
        found = next(
            (
                ly
                for ly in self.viewer.layers
                if ly.metadata.get("scdl_role") == QUEUE_ROLE
                and ly.metadata.get("sample_id") == sid
            ),
            None,
        )
        if self.table is None or not create and found is None:
            return found
        idx = self.table["index"].to_numpy(dtype=int)
        data = np.asarray(spots.data)[idx]
        size = float(np.asarray(spots.size).ravel()[0]) * 1.7
        if found is None:
            found = self.viewer.add_points(
                data,
                size=size,
                face_color="transparent",
                border_color=_RING,
                border_width=0.18,
                border_width_is_relative=True,
                translate=spots.translate,
                name=f"{spots.name.removesuffix(' spots')} · review queue",
                metadata={"scdl_role": QUEUE_ROLE, "sample_id": sid},
            )
        else:
            found.data = data
        found.mode = "pan_zoom"
        self._bind_keys(found)
        return found

    def _bind_keys(self, layer) -> None:
        for k in range(1, 10):
            layer.bind_key(str(k), lambda _ly, k=k: self.press(k), overwrite=True)
        layer.bind_key("n", lambda _ly: self.step(1), overwrite=True)
        layer.bind_key("b", lambda _ly: self.step(-1), overwrite=True)

    def categories(self) -> list[str]:
        store, column = self.owner.store, self.owner.column
        if store is None or not column or column not in store.columns:
            return []
        return store.categories(column)

    def update_keys(self) -> None:
        cats = self.categories()[:9]
        if not cats:
            self.keys.setText("")
            return
        self.keys.setText(
            "Keys (queue layer active): "
            + ", ".join(f"<b>{i + 1}</b> {c}" for i, c in enumerate(cats))
            + "; <b>n</b> next, <b>b</b> back"
        )

    @property
    def index(self) -> int | None:
        """The spot (row of adata) under review, or None."""
        if self.table is None or not (0 <= self.pos < len(self.table)):
            return None
        return int(self.table["index"].iloc[self.pos])

    def go(self, pos: int) -> None:
        """Show suggestion ``pos``: centre the camera on it and highlight it."""
        if self.table is None or not len(self.table):
            return
        self.pos = int(np.clip(pos, 0, len(self.table)))
        layer = self.layer()
        if self.pos >= len(self.table):
            self.current.setText(f"All {len(self.table)} suggestions reviewed: press Retrain.")
            if layer is not None:
                layer.border_color = _RING
            self._enable()
            return
        row = self.table.iloc[self.pos]
        spots = self.owner.sample.layer
        self.viewer.camera.center = tuple(spots.data_to_world(spots.data[int(row["index"])]))
        self.viewer.camera.zoom = self._zoom(spots)
        if layer is not None:
            colors = np.tile(np.array([1, 1, 1, 0.8], np.float32), (len(self.table), 1))
            colors[self.pos] = (1, 1, 0, 1)
            layer.border_color = colors
            layer.selected_data = set()
            layer.refresh()
        label = self._current_label()
        self.current.setText(
            f"<b>{self.pos + 1} / {len(self.table)}</b>: {row['barcode']} — predicted "
            f"<b>{row['predicted']}</b> (confidence {row['confidence']:.2f})"
            + (f"; labelled <b>{label}</b>" if label else "")
        )
        self._enable()

    def _current_label(self) -> str:
        store, column, i = self.owner.store, self.owner.column, self.index
        if store is None or i is None or column not in store.columns:
            return ""
        v = store.adata.obs[column].iloc[i]
        return "" if pd.isna(v) else str(v)

    def _zoom(self, spots) -> float:
        size = getattr(getattr(self.viewer, "canvas", None), "size", None) or (600, 600)
        diameter = float(np.asarray(spots.size).ravel()[0])
        return float(min(size)) / (FIELD_OF_VIEW_SPOTS * diameter / 0.55)

    def step(self, delta: int) -> None:
        self.go(self.pos + delta)

    def press(self, key: int) -> str | None:
        """Label the current spot with category number ``key`` (1-based) and advance."""
        cats, i = self.categories(), self.index
        if i is None:
            self.owner.message("no spot under review: press 'Suggest spots'")
            return None
        if not 1 <= key <= len(cats):
            self.owner.message(
                f"key {key} has no category (the column has {len(cats)})", error=True
            )
            return None
        cat = cats[key - 1]
        self.owner.store.assign(self.owner.column, [i], cat)
        self.owner.message(f"{self.table['barcode'].iloc[self.pos]} labelled {cat} (Ctrl+Z undoes)")
        self.step(1)
        return cat

    def reviewed(self) -> np.ndarray:
        """Indices of the suggestions that have a label in the column now."""
        if self.table is None:
            return np.array([], int)
        store, column = self.owner.store, self.owner.column
        idx = self.table["index"].to_numpy(dtype=int)
        if store is None or column not in store.columns:
            return np.array([], int)
        return idx[store.adata.obs[column].iloc[idx].notna().to_numpy()]

    def _enable(self) -> None:
        n = 0 if self.table is None else len(self.table)
        self.prev_button.setEnabled(n > 0 and self.pos > 0)
        self.next_button.setEnabled(n > 0 and self.pos < n)
