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
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DLPFC = REPO.parent / "shared" / "data" / "dlpfc151673"
IMAGES = REPO / "docs" / "images"


def _wait(app, cond, timeout=1800.0) -> None:
    t0 = time.time()
    while not cond():
        app.processEvents()
        time.sleep(0.05)
        if time.time() - t0 > timeout:
            raise TimeoutError("the widget did not finish in time")


def _settle(app, n=20) -> None:
    for _ in range(n):
        app.processEvents()
        time.sleep(0.02)


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
    from qtpy.QtWidgets import QApplication

    from napari_scdl._qt._compare_widget import CompareWidget
    from napari_scdl._qt._launch import add_sample
    from napari_scdl._qt._models_widget import ModelsWidget
    from napari_scdl.datasets import synthetic_visium

    if real and DLPFC.exists():
        from napari_scdl.io import read

        adata = read(DLPFC)
        truth = pd.read_csv(DLPFC / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
        adata.obs["expert layers"] = pd.Categorical(truth.reindex(adata.obs_names))
        k, epochs, genes = 7, 40, 1000
    else:
        adata = synthetic_visium(2000, n_domains=5, seed=0)
        adata.obs["expert layers"] = adata.obs["truth"]
        adata.obs = adata.obs.drop(columns="truth")
        k, epochs, genes = 5, 40, 300
    viewer = napari.Viewer(title="napari-scdl: models")
    app = QApplication.instance()
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
    _wait(app, lambda: not models.runner.running)
    # cluster the same embedding differently, shown the same way
    models.clusters.opts.n_clusters.value = k
    models.clusters.opts.method.value = "leiden"
    models.clusters.runner.run_button.click()
    _wait(app, lambda: not models.clusters.runner.running)
    models.show_clusters("vae")
    dock_m.raise_()
    viewer.reset_view()
    _settle(app)
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
    _settle(app)
    viewer.window.screenshot(str(IMAGES / "compare_side_by_side.png"), canvas_only=False)

    compare.table.selectRow(0)  # expert layers vs vae
    compare.disagree_button.click()
    for ly in viewer.layers:
        if "panel" in ly.name:
            ly.visible = False
    _zoom_to(viewer, next(ly for ly in viewer.layers if ly.metadata.get("scdl_role") == "image"))
    _settle(app)
    viewer.window.screenshot(str(IMAGES / "compare_disagreement.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main(real="--real" in sys.argv)
