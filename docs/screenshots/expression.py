"""Screenshots: the "Genes & markers" widget on the real slide, and an exported figure.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/expression.py
Uses the real DLPFC slide when ../shared/data is present (else the synthetic sample), with
its expert layer annotation as the grouping; writes docs/images/expression_widget.png,
docs/images/figure_MOBP.png and docs/images/figure_layers.png.
"""

from __future__ import annotations

import pandas as pd
from _shared import DLPFC, IMAGES, sample_with_truth, settle, wait_until


def main() -> None:
    import napari

    from napari_scdl._qt.genes.widget import ExpressionWidget
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.figure import export_figure

    adata, truth = sample_with_truth()
    adata.obs["layer"] = pd.Categorical(truth)
    group, gene = ("WM", "MOBP") if DLPFC.exists() else ("Layer5", "MK5_0")
    viewer = napari.Viewer(title="napari-scdl: genes & markers")
    viewer.window._qt_window.resize(1500, 1050)
    add_sample(viewer, adata)
    widget = ExpressionWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right", name="Genes & markers")
    panel = widget.markers
    panel.groupby.refresh()
    panel.groupby.setCurrentText("layer")
    panel.runner.run_button.click()
    wait_until(lambda: not panel.runner.running, timeout=300)
    panel.group.setCurrentText(group)
    panel.top_n.setValue(15)
    rows = [panel.gene_at(r) for r in range(panel.proxy.rowCount())]
    row = rows.index(gene) if gene in rows else 0
    panel.view.selectRow(row)
    panel.gene_chosen.emit(panel.gene_at(row))  # what a click on the row does
    viewer.reset_view()
    settle(10)
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
