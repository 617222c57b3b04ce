"""Spot inspector: hover or click a spot to see its barcode, labels, counts and top genes."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

N_TOP_GENES = 5
_MAX_COLUMNS = 8  # categorical columns listed per spot


def nearest_spot(layer, world_position, cache: dict | None = None) -> int | None:
    """Index of the spot of ``layer`` under ``world_position`` (within its radius), or None.

    ``cache`` (a dict owned by the caller) keeps the k-d tree of each layer between calls.
    """
    if layer is None or len(layer.data) == 0:
        return None
    cache = {} if cache is None else cache
    tree = cache.get(id(layer))
    if tree is None or tree.n != len(layer.data):
        from scipy.spatial import cKDTree

        tree = cKDTree(np.asarray(layer.data)[:, -2:])
        cache[id(layer)] = tree
    pos = np.asarray(layer.world_to_data(world_position))[-2:]
    dist, idx = tree.query(pos, k=1)
    size = np.asarray(layer.size).ravel()
    radius = float(size[idx] if size.size > 1 else size[0]) / 2
    return int(idx) if dist <= radius else None


def top_genes(adata, i: int, n: int = N_TOP_GENES) -> list[tuple[str, float, float]]:
    """The ``n`` genes with the most counts in spot ``i``: (gene, counts, per 10,000 counts)."""
    row = adata.X[i]
    row = sp.csr_matrix(row) if not sp.issparse(row) else row.tocsr()
    if row.nnz == 0:
        return []
    total = float(row.data.sum())
    order = np.argsort(-row.data, kind="stable")[:n]
    names = adata.var_names
    return [
        (str(names[row.indices[j]]), float(row.data[j]), 1e4 * float(row.data[j]) / total)
        for j in order
    ]


def describe_spot(adata, i: int, *, highlight: str | None = None) -> str:
    """Rich text describing spot ``i``: barcode, labels (with confidence), counts, top genes."""
    obs = adata.obs
    lines = [f"<b>{html.escape(str(adata.obs_names[i]))}</b> (spot {i})"]
    cats = [
        c
        for c in obs.columns
        if isinstance(obs[c].dtype, pd.CategoricalDtype) and not c.endswith("_confidence")
    ]
    if highlight in cats:
        cats.remove(highlight)
        cats.insert(0, highlight)
    for c in cats[:_MAX_COLUMNS]:
        v = obs[c].iloc[i]
        text = "—" if pd.isna(v) else html.escape(str(v))
        conf = f"{c[: -len('_label')]}_confidence" if c.endswith("_label") else f"{c}_confidence"
        if (
            conf in obs
            and pd.api.types.is_numeric_dtype(obs[conf])
            and not pd.isna(obs[conf].iloc[i])
        ):
            text += f" (confidence {float(obs[conf].iloc[i]):.2f})"
        name = f"<b>{html.escape(c)}</b>" if c == highlight else html.escape(c)
        lines.append(f"{name}: {text}")
    for c, label in (("total_counts", "total counts"), ("n_genes", "genes detected")):
        if c in obs:
            lines.append(f"{label}: {float(obs[c].iloc[i]):,.0f}")
    genes = top_genes(adata, i)
    if genes:
        lines.append(
            "top genes: "
            + ", ".join(f"{html.escape(g)} ({c:,.0f}; {cp:,.0f}/10k)" for g, c, cp in genes)
        )
    return "<br>".join(lines)


class SpotInspector(QWidget):
    """Shows the spot under the mouse (hover) or the last clicked spot (click pins it).

    ``get_layer()`` returns the spots layer to inspect; ``get_column()`` the column to
    show first (the annotation being edited).
    """

    def __init__(
        self, viewer, get_layer: Callable, get_column: Callable | None = None, parent=None
    ) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.get_layer = get_layer
        self.get_column = get_column or (lambda: None)
        self.label = QLabel("Hover over a spot to inspect it; click to pin it.")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        self.index: int | None = None
        self.pinned = False
        self._trees: dict = {}
        viewer.mouse_move_callbacks.append(self._on_move)
        viewer.mouse_drag_callbacks.append(self._on_click)

    def close_callbacks(self) -> None:
        """Detach from the viewer (when the dock widget goes away)."""
        for lst, cb in (
            (self.viewer.mouse_move_callbacks, self._on_move),
            (self.viewer.mouse_drag_callbacks, self._on_click),
        ):
            if cb in lst:
                lst.remove(cb)

    def show_spot(self, i: int | None) -> None:
        """Show spot ``i`` of the current sample (None clears)."""
        layer = self.get_layer()
        self.index = i
        if layer is None or i is None:
            self.label.setText("Hover over a spot to inspect it; click to pin it.")
            return
        text = describe_spot(layer.metadata["adata"], i, highlight=self.get_column())
        self.label.setText(
            text + ("<br><i>pinned: click elsewhere to release</i>" if self.pinned else "")
        )

    def refresh(self) -> None:
        self.show_spot(self.index)

    def _on_move(self, viewer, event) -> None:
        if self.pinned or not self.isVisible():
            return
        i = nearest_spot(self.get_layer(), event.position, self._trees)
        if i is not None and i != self.index:
            self.show_spot(i)

    def _on_click(self, viewer, event):
        if event.type != "mouse_press":
            return
        i = nearest_spot(self.get_layer(), event.position, self._trees)
        self.pinned = i is not None
        self.show_spot(i if i is not None else self.index)
