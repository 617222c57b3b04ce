"""Screenshots: the "Models" widget after a run, and "Compare results" (side by side with
the ARI/NMI table, then the disagreement map).

Run: xvfb-run -a -s "-screen 0 2000x1100x24" python docs/screenshots/models_compare.py [--real]
Default: the synthetic sample (2000 spots, 5 layered domains, known truth) - the models
train in seconds on a CPU. ``--real`` uses the DLPFC slide and its expert annotation (slow
on a CPU). Writes docs/images/models_widget.png, compare_side_by_side.png and
compare_disagreement.png.
"""

from __future__ import annotations

import sys

import pandas as pd
from _shared import DLPFC, IMAGES, sample_with_truth, settle, wait_until


def _zoom_to(viewer, layer) -> None:
    """Centre the camera on one layer (reset_view also counts the hidden panels)."""
    import numpy as np

    lo, hi = np.asarray(layer.extent.world)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center = tuple((lo + hi) / 2)
    canvas = np.asarray(viewer.window._qt_viewer.canvas.size[::-1], dtype=float)
    camera.zoom = 0.95 * float(np.min(canvas / (hi - lo)))


def main(real: bool) -> None:
    import napari
    from qtpy.QtCore import Qt

    from napari_scdl._qt.compare.widget import CompareWidget
    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.models.widget import ModelsWidget

    real = real and DLPFC.exists()
    adata, truth = sample_with_truth(real)
    adata.obs = adata.obs.drop(columns="truth", errors="ignore")
    adata.obs["expert layers"] = pd.Categorical(truth)
    k, epochs, genes = (7, 40, 1000) if real else (5, 40, 300)
    viewer = napari.Viewer(title="napari-scdl: models")
    viewer.window._qt_window.resize(1900, 1050)
    add_sample(viewer, adata)

    models = ModelsWidget(viewer)
    compare = CompareWidget(viewer)
    dock_m = viewer.window.add_dock_widget(models, area="right", name="Models")
    dock_c = viewer.window.add_dock_widget(
        compare, area="right", name="Compare results", tabify=True
    )
    models.chooser.setCurrentIndex(models.chooser.findData("vae"))
    models.form.epochs.value = epochs
    models.form.n_clusters.value = k
    models.form.n_top_genes.value = genes
    models.runner.run_button.click()
    wait_until(lambda: not models.runner.running)
    # cluster the same embedding differently, shown the same way
    models.clusters.opts.n_clusters.value = k
    models.clusters.opts.method.value = "leiden"
    models.clusters.runner.run_button.click()
    wait_until(lambda: not models.clusters.runner.running)
    models.show_clusters("vae")
    dock_m.raise_()
    viewer.reset_view()
    settle()
    viewer.window.screenshot(str(IMAGES / "models_widget.png"), canvas_only=False)

    dock_c.raise_()
    compare.refresh()
    for i in range(compare.results.count()):
        item = compare.results.item(i)
        if item.text() in ("expert layers", "vae", "vae_clusters"):
            item.setCheckState(Qt.CheckState.Checked)
    compare.side_button.click()
    for ly in viewer.layers:  # show only the panels (and the H&E under them)
        if ly.metadata.get("scdl_role") == "result" and "panel" not in ly.name:
            ly.visible = False
    settle()
    viewer.window.screenshot(str(IMAGES / "compare_side_by_side.png"), canvas_only=False)

    compare.table.selectRow(0)  # expert layers vs vae
    compare.disagree_button.click()
    for ly in viewer.layers:
        if "panel" in ly.name:
            ly.visible = False
    _zoom_to(viewer, next(ly for ly in viewer.layers if ly.metadata.get("scdl_role") == "image"))
    settle()
    viewer.window.screenshot(str(IMAGES / "compare_disagreement.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main(real="--real" in sys.argv)
