"""Screenshots: the "Genes & markers" widget on the real slide, and an exported figure.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/expression.py
Uses the real DLPFC slide when ../shared/data is present (else the synthetic sample), with
its expert layer annotation as the grouping; writes docs/images/expression_widget.png,
docs/images/figure_MOBP.png and docs/images/figure_layers.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DLPFC = REPO.parent / "shared" / "data" / "dlpfc151673"
IMAGES = REPO / "docs" / "images"


def _wait(app, cond, timeout=300.0) -> None:
    t0 = time.time()
    while not cond():
        app.processEvents()
        time.sleep(0.05)
        if time.time() - t0 > timeout:
            raise TimeoutError("the widget did not finish in time")


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_scdl._qt._expression_widget import ExpressionWidget
    from napari_scdl._qt._launch import add_sample
    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.figure import export_figure
    from napari_scdl.io import read

    if DLPFC.exists():
        adata = read(DLPFC)
        truth = pd.read_csv(DLPFC / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
        adata.obs["layer"] = pd.Categorical(truth.reindex(adata.obs_names))
        group, gene = "WM", "MOBP"
    else:
        adata = synthetic_visium(2000, n_domains=5, seed=0)
        adata.obs["layer"] = adata.obs["truth"]
        group, gene = "Layer5", "MK5_0"
    viewer = napari.Viewer(title="napari-scdl: genes & markers")
    app = QApplication.instance()
    viewer.window._qt_window.resize(1500, 1050)
    add_sample(viewer, adata)
    widget = ExpressionWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right", name="Genes & markers")
    panel = widget.markers
    panel.groupby.refresh()
    panel.groupby.setCurrentText("layer")
    panel.runner.run_button.click()
    _wait(app, lambda: not panel.runner.running)
    panel.group.setCurrentText(group)
    panel.top_n.setValue(15)
    rows = [panel.gene_at(r) for r in range(panel.proxy.rowCount())]
    row = rows.index(gene) if gene in rows else 0
    panel.view.selectRow(row)
    panel.gene_chosen.emit(panel.gene_at(row))  # what a click on the row does
    viewer.reset_view()
    for _ in range(10):
        app.processEvents()
    viewer.window.screenshot(str(IMAGES / "expression_widget.png"), canvas_only=False)

    widget.export_figure(IMAGES / f"figure_{widget.genes[0]}.png", dpi=150, width_in=5)
    export_figure(
        adata,
        "layer",
        IMAGES / "figure_layers.png",
        dpi=150,
        width_in=5,
        title="expert layer annotation",
    )
    viewer.close()


if __name__ == "__main__":
    main()
