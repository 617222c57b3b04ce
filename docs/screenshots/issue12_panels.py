"""Screenshots of the panel fixes of issue 12 (part 3), on a 1280x800 screen.

Run: xvfb-run -a -s "-screen 0 1280x800x24" python docs/screenshots/issue12_panels.py
Uses DLPFC 151673 and its expert layers when present (else the synthetic sample).
Writes docs/images/panels_1280x800.png (all six panels docked from the Plugins menu),
compare_disagreement_plugin.png (the disagreement map, widget docked from the Plugins
menu) and domains_no_image.png (an image-free sample: "use histology" off and why).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _shared import IMAGES, sample_with_truth, settle

PANELS = ["Spatial domains", "Annotate", "Learn & review", "Genes & markers", "Models",
          "Compare results"]


def _clusters(adata, k: int) -> pd.Categorical:
    """A quick expression-only clustering to compare with the expert layers."""
    import scanpy as sc
    from sklearn.cluster import KMeans

    ad = adata.copy()
    sc.pp.normalize_total(ad)
    sc.pp.log1p(ad)
    sc.pp.highly_variable_genes(ad, n_top_genes=2000, subset=True)
    sc.pp.pca(ad, n_comps=30, random_state=0)
    labels = KMeans(k, n_init=4, random_state=0).fit_predict(ad.obsm["X_pca"])
    return pd.Categorical([f"k{i}" for i in labels])


def main() -> None:
    import napari
    from qtpy.QtCore import Qt

    from napari_scdl._qt.launch import add_sample

    adata, truth = sample_with_truth(True)
    adata.obs["expert layers"] = pd.Categorical(truth)
    adata.obs["kmeans"] = _clusters(adata, 7)
    viewer = napari.Viewer(title="napari-scdl")
    win = viewer.window._qt_window
    win.setGeometry(0, 0, 1280, 800)
    add_sample(viewer, adata)
    docks = {}
    for name in PANELS:
        d, w = viewer.window.add_plugin_dock_widget("napari-scdl", name, tabify=bool(docks))
        docks[name] = (d, w)
    settle(20)  # let Qt tabify them all, then show the first panel
    docks["Spatial domains"][0].raise_()
    viewer.reset_view()
    settle(40)
    geo = win.frameGeometry()
    print(f"window {geo.width()}x{geo.height()}")
    win.grab().save(str(IMAGES / "panels_1280x800.png"))

    dock, compare = docks["Compare results"]
    dock.raise_()
    compare.refresh()
    for i in range(compare.results.count()):
        item = compare.results.item(i)
        if item.text() in ("expert layers", "kmeans"):
            item.setCheckState(Qt.CheckState.Checked)
    compare.show_side_by_side()
    compare.show_disagreement()
    out = next(ly for ly in viewer.layers if "disagreement" in ly.name)
    print("disagreement layer visible:", out.visible)
    lo, hi = np.asarray(out.extent.world)
    viewer.camera.center = tuple((lo + hi) / 2)
    canvas = np.asarray(viewer.window._qt_viewer.canvas.size, dtype=float)
    viewer.camera.zoom = 0.95 * float(np.min(canvas / (hi - lo)))
    settle(40)
    win.grab().save(str(IMAGES / "compare_disagreement_plugin.png"))
    viewer.close()

    # an image-free sample: "use histology" is switched off and the panel says why
    free = adata.copy()
    free.uns.pop("spatial", None)
    viewer = napari.Viewer(title="napari-scdl")
    viewer.window._qt_window.setGeometry(0, 0, 1280, 800)
    add_sample(viewer, free)
    viewer.window.add_plugin_dock_widget("napari-scdl", "Spatial domains")
    viewer.reset_view()
    settle(40)
    viewer.window._qt_window.grab().save(str(IMAGES / "domains_no_image.png"))
    viewer.close()


if __name__ == "__main__":
    main()
