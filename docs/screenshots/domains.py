"""Screenshot: spatial domains on DLPFC 151673, legend, side by side with the expert layers.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/domains.py
"""

from __future__ import annotations

import sys

import napari
import pandas as pd
from _shared import IMAGES as OUT
from _shared import sample_with_truth, settle, wait_until

from napari_scdl._qt.domains.widget import DomainsWidget
from napari_scdl._qt.launch import add_sample


def main() -> None:
    adata, truth = sample_with_truth()
    adata.obs["expert layers"] = pd.Categorical(truth)
    viewer = napari.Viewer(title="napari-scdl")
    viewer.window._qt_window.resize(1500, 950)
    add_sample(viewer, adata)
    w = DomainsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right", name="Spatial domains")
    w.form.n_domains.value = 7
    w.run()
    wait_until(lambda: not w.runner.running)
    viewer.reset_view()
    settle(5)
    viewer.window.screenshot(str(OUT / "domains_widget.png"), canvas_only=False)
    w.compare_with.value = "expert layers"
    w.compare()
    settle(5)
    # the canvas only: after a second RGB image layer is added, Qt's grab of the whole window
    # comes out greyscale under Xvfb (seen with napari 0.9.2 / PyQt6); the canvas is right
    viewer.screenshot(str(OUT / "domains_side_by_side.png"), canvas_only=True)
    print(w.summary.text())
    viewer.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
