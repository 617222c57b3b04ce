"""Screenshots of the "Tumour" panel on the HER2+ section A1 (docs/tumours.md).

Run: xvfb-run -a -s "-screen 0 1800x1050x24" python docs/screenshots/tumour.py
The cancer spots (pathologist's labels, used only to choose the region) are the region.
"""

from __future__ import annotations

import pandas as pd
from _shared import IMAGES, REPO, settle, wait_until

HER2 = REPO.parent / "shared" / "data" / "her2st"


def main() -> None:
    import anndata as ad
    import napari

    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.tumour import TumourWidget

    a = ad.read_h5ad(HER2 / "A1.h5ad")
    gt = pd.read_csv(HER2 / "A1_ground_truth.tsv", sep="\t").set_index("barcode")["layer"]
    a.obs["pathology"] = pd.Categorical(gt.reindex(a.obs_names))
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1700, 1000)
    add_sample(viewer, a)
    widget = TumourWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right", name="Tumour")
    sec = widget.subclones
    sec.set_region("pathology", ["invasive cancer", "cancer in situ"])
    sec.run()
    wait_until(lambda: not sec.runner.running)
    viewer.reset_view()
    settle()
    viewer.window.screenshot(str(IMAGES / "tumour_subclones.png"), canvas_only=False)
    sec.highlight(sec.tree.leaves[0])
    settle()
    viewer.window.screenshot(str(IMAGES / "tumour_subclone_highlight.png"), canvas_only=False)
    widget.tabs.setCurrentIndex(1)
    prog = widget.programs
    prog.set_groupby("pathology")
    prog.run()
    wait_until(lambda: not prog.runner.running)
    prog.show_program("invasive cancer")
    prog.paint_score()
    settle()
    viewer.window.screenshot(str(IMAGES / "tumour_programs.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main()
