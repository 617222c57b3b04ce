"""Small matplotlib canvases for the dock: a colorbar and expression-by-group violins."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ...colors import category_colors, lut_colormap

_MAX_PER_GROUP = 2000  # violins of 100,000 spots look the same from a subsample, and draw fast


def _style(fig: Figure) -> None:
    fig.patch.set_facecolor("#262930")  # napari's dark theme background


def _axes_colors(ax) -> None:
    ax.set_facecolor("#262930")
    ax.tick_params(colors="#d0d0d0", labelsize=7)
    for side in ax.spines.values():
        side.set_color("#808080")
    ax.xaxis.label.set_color("#d0d0d0")
    ax.yaxis.label.set_color("#d0d0d0")
    ax.title.set_color("#e0e0e0")



class ColorbarCanvas(FigureCanvasQTAgg):
    """A horizontal colorbar: which colour means how much expression."""

    def __init__(self, parent=None) -> None:
        fig = Figure(figsize=(3.0, 0.75), dpi=100, layout="constrained")
        _style(fig)
        super().__init__(fig)
        self.setParent(parent)
        self.setFixedHeight(56)
        self.ax = fig.add_subplot(111)
        self.label = ""
        self.ax.set_visible(False)

    def set_colorbar(self, cmap: str, clim: tuple[float, float], label: str) -> None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig = self.figure
        fig.clear()
        self.ax = fig.add_subplot(111)
        sm = ScalarMappable(norm=Normalize(*clim), cmap=lut_colormap(cmap))
        fig.colorbar(sm, cax=self.ax, orientation="horizontal")
        self.ax.set_xlabel(label, fontsize=7)
        _axes_colors(self.ax)
        self.label = label
        self.draw_idle()


class GroupPlotCanvas(FigureCanvasQTAgg):
    """Expression of one gene (or score) per group as violins, with each group's colour."""

    def __init__(self, parent=None) -> None:
        fig = Figure(figsize=(3.2, 2.2), dpi=100, layout="constrained")
        _style(fig)
        super().__init__(fig)
        self.setParent(parent)
        self.setMinimumHeight(170)
        self.ax = fig.add_subplot(111)
        self.groups: list[str] = []
        self.clear_plot("choose a gene and a grouping to see its expression by group")

    def clear_plot(self, message: str = "") -> None:
        self.figure.clear()
        self.ax = self.figure.add_subplot(111)
        self.ax.set_axis_off()
        self.ax.text(
            0.5,
            0.5,
            message,
            ha="center",
            va="center",
            wrap=True,
            fontsize=8,
            color="#d0d0d0",
            transform=self.ax.transAxes,
        )
        self.groups = []
        self.draw_idle()

    def plot_groups(self, adata, values: np.ndarray, groupby: str, label: str) -> None:
        """Violin per category of ``obs[groupby]`` (spots without a label are left out)."""
        col = adata.obs[groupby].astype("category")
        colors = category_colors(adata, groupby)
        rng = np.random.default_rng(0)
        data, names, fills = [], [], []
        for cat in col.cat.categories:
            v = values[np.asarray(col == cat)]
            if len(v) == 0:
                continue
            if len(v) > _MAX_PER_GROUP:
                v = rng.choice(v, _MAX_PER_GROUP, replace=False)
            data.append(v)
            names.append(str(cat))
            fills.append(colors.get(str(cat), "#888888"))
        if not data:
            self.clear_plot(f"obs[{groupby!r}] has no labelled spots")
            return
        self.figure.clear()
        ax = self.ax = self.figure.add_subplot(111)
        flat = [d if np.ptp(d) > 0 else d + rng.normal(0, 1e-6, len(d)) for d in data]
        parts = ax.violinplot(flat, showmedians=True, showextrema=False, widths=0.8)
        for body, fill in zip(parts["bodies"], fills, strict=True):
            body.set_facecolor(fill)
            body.set_edgecolor("#e0e0e0")
            body.set_linewidth(0.5)
            body.set_alpha(0.9)
        parts["cmedians"].set_color("#ffffff")
        ax.set_xticks(np.arange(1, len(names) + 1), names, rotation=45, ha="right")
        ax.set_ylabel("log normalised", fontsize=7)
        ax.set_title(f"{label} by {groupby}", fontsize=8)
        _axes_colors(ax)
        self.groups = names
        self.draw_idle()
