"""Matplotlib canvases of the tumour panel: the subclone tree and a program's gene network."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..common.plot_canvas import _axes_colors, _style


class _Canvas(FigureCanvasQTAgg):
    def __init__(self, height: int, parent=None) -> None:
        fig = Figure(figsize=(3.2, height / 100), dpi=100, layout="constrained")
        _style(fig)
        super().__init__(fig)
        self.setParent(parent)
        self.setMinimumHeight(height)
        self.message("")

    def message(self, text: str) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        ax.set_axis_off()
        ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8,
                color="#d0d0d0", transform=ax.transAxes)
        self.draw_idle()


class TreeCanvas(_Canvas):
    """Dendrogram of the subclones (scipy linkage of their centroids); click a leaf (or
    its label) to highlight that subclone."""

    def __init__(self, on_pick: Callable[[str], None] | None = None, parent=None) -> None:
        super().__init__(190, parent)
        self.on_pick = on_pick
        self.leaves: list[str] = []
        self._leaf_x: np.ndarray = np.zeros(0)
        self.mpl_connect("button_press_event", self._clicked)
        self.message("run the subclones model to see how the subclones relate")

    def set_tree(self, tree: dict, colors: dict[str, str]) -> None:
        from scipy.cluster.hierarchy import dendrogram

        labels = [str(v) for v in tree["labels"]]
        sizes = dict(zip(labels, np.asarray(tree["sizes"]).astype(int), strict=True))
        self.figure.clear()
        ax = self.ax = self.figure.add_subplot(111)
        if len(labels) < 2:
            self.message(f"one subclone ({sizes[labels[0]]} spots)")
            return
        d = dendrogram(np.asarray(tree["linkage"], dtype=float), labels=labels, ax=ax,
                       color_threshold=0, above_threshold_color="#d0d0d0")
        self.leaves = list(d["ivl"])
        self._leaf_x = 5.0 + 10.0 * np.arange(len(self.leaves))
        for x, name in zip(self._leaf_x, self.leaves, strict=True):
            ax.scatter([x], [0], s=60 + 140 * sizes[name] / max(sizes.values()),
                       color=colors.get(name, "#888888"), zorder=3, clip_on=False)
        ax.set_xticklabels([f"{n}\n({sizes[n]})" for n in self.leaves], fontsize=7)
        ax.set_ylabel("centroid distance", fontsize=7)
        ax.set_title("subclone tree (click a subclone)", fontsize=8)
        _axes_colors(ax)
        self.draw_idle()

    def leaf_at(self, x: float) -> str | None:
        if not len(self._leaf_x):
            return None
        return self.leaves[int(np.argmin(np.abs(self._leaf_x - x)))]

    def _clicked(self, event) -> None:
        if self.on_pick is None or not len(self._leaf_x) or event.x is None:
            return  # a click on a leaf's label (below the axes) counts too
        x = self.ax.transData.inverted().transform((event.x, event.y))[0]
        leaf = self.leaf_at(x)
        if leaf is not None:
            self.on_pick(leaf)


class NetworkCanvas(_Canvas):
    """A program's gene-gene co-attention network on a circle (edge width = weight)."""

    def __init__(self, parent=None) -> None:
        super().__init__(230, parent)
        self.genes: list[str] = []
        self.message("choose a program to see its gene network")

    def set_network(self, edges: pd.DataFrame, genes: list[str], title: str) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        ax.set_axis_off()
        ax.set_aspect("equal")
        self.genes = list(genes)
        n = len(self.genes)
        if n == 0:
            self.message("no genes in this program")
            return
        angle = 2 * np.pi * np.arange(n) / n
        pos = {g: (np.cos(a), np.sin(a)) for g, a in zip(self.genes, angle, strict=True)}
        wmax = float(edges["weight"].max()) if len(edges) else 1.0
        for s, t, w in edges[["source", "target", "weight"]].itertuples(index=False):
            if s in pos and t in pos:
                (x0, y0), (x1, y1) = pos[s], pos[t]
                ax.plot([x0, x1], [y0, y1], color="#5fa8d3", alpha=0.8,
                        linewidth=0.5 + 2.5 * float(w) / max(wmax, 1e-9))
        xy = np.array([pos[g] for g in self.genes])
        ax.scatter(xy[:, 0], xy[:, 1], s=30, color="#f4a261", zorder=3)
        for g, (x, y) in pos.items():
            ax.text(1.15 * x, 1.15 * y, g, fontsize=6, color="#e0e0e0", ha="center", va="center")
        ax.set_xlim(-1.45, 1.45)
        ax.set_ylim(-1.35, 1.35)
        ax.set_title(title, fontsize=8, color="#e0e0e0")
        self.draw_idle()
