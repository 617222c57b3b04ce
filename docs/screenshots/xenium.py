"""Screenshot: the real Xenium crop (526 cells) with cells coloured by spatial domain over
the morphology (DAPI) image, cell outlines on top, the Spatial domains widget docked.

The crop ships without experiment.xenium; this script writes one (pixel_size 0.2125 um)
into a temporary copy and gives the crop's image extent (its morphology image covers the
cells' 1000-1400 um window).

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/xenium.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import napari
import numpy as np
from _shared import IMAGES as OUT
from _shared import REPO, settle, wait_until

from napari_scdl._qt.domains.widget import DomainsWidget
from napari_scdl._qt.launch import add_sample
from napari_scdl.io import read
from napari_scdl.layers import paint_outlines

CROP = REPO.parent / "shared" / "data" / "peer" / "xenium_crop"


def main() -> None:
    tmp = Path(tempfile.mkdtemp()) / "xenium_crop"
    shutil.copytree(CROP, tmp)
    (tmp / "experiment.xenium").write_text(json.dumps({"pixel_size": 0.2125}))
    adata = read(tmp, image_extent_um=(1000, 1000, 1400, 1400))
    viewer = napari.Viewer(title="napari-scdl")
    viewer.window._qt_window.resize(1500, 950)
    layers = add_sample(viewer, adata)
    w = DomainsWidget(viewer)
    viewer.window.add_dock_widget(w, area="right", name="Spatial domains")
    w.form.n_domains.value = 5
    w.run()
    wait_until(lambda: not w.runner.running)
    outlines = next(ly for ly in layers if type(ly).__name__ == "Shapes")
    paint_outlines(outlines, adata, "domain")  # outlines in their domain's colour
    outlines.edge_width = 1.5
    cells = viewer.layers[-1]  # the widget's result layer: translucent, so DAPI shows
    cells.opacity = 0.55
    viewer.layers.move(viewer.layers.index(outlines), len(viewer.layers))
    viewer.reset_view()
    settle(10)
    viewer.window.screenshot(str(OUT / "xenium_domains.png"), canvas_only=False)
    print(adata.obs["domain"].value_counts().to_dict(), np.round(adata.obsm["spatial"][:2], 1))
    viewer.close()
    shutil.rmtree(tmp.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
