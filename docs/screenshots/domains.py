"""Screenshot: spatial domains on DLPFC 151673, legend, side by side with the expert layers.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/domains.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
import pandas as pd
from qtpy.QtWidgets import QApplication

from napari_scdl._qt._domains_widget import DomainsWidget
from napari_scdl._qt._launch import add_sample
from napari_scdl.io import read

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "dlpfc151673"
OUT = ROOT / "docs" / "images"


def wait(widget) -> None:
    # an idle event loop, as napari's own: a busy processEvents() loop would take a core
    # from the training thread
    while widget.runner.running:
        QApplication.processEvents()
        time.sleep(0.05)


def main() -> None:
    adata = read(DATA)
    gt = pd.read_csv(DATA / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
    adata.obs["expert layers"] = pd.Categorical(gt.reindex(adata.obs_names))
    viewer = napari.Viewer(title="napari-scdl")
    viewer.window._qt_window.resize(1500, 950)
    add_sample(viewer, adata)
    w = DomainsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right", name="Spatial domains")
    w.form.n_domains.value = 7
    w.run()
    wait(w)
    viewer.reset_view()
    for _ in range(5):
        QApplication.processEvents()
    viewer.window.screenshot(str(OUT / "domains_widget.png"), canvas_only=False)
    w.compare_with.value = "expert layers"
    w.compare()
    for _ in range(5):
        QApplication.processEvents()
    # the canvas only: after a second RGB image layer is added, Qt's grab of the whole window
    # comes out greyscale under Xvfb (seen with napari 0.9.2 / PyQt6); the canvas is right
    viewer.screenshot(str(OUT / "domains_side_by_side.png"), canvas_only=True)
    print(w.summary.text())
    viewer.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
