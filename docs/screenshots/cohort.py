"""Screenshot: the Cohort panel, three synthetic slides with a planted slide effect, joint
domains side by side with one legend and the proportions plot.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/cohort.py
"""

from __future__ import annotations

import sys

import napari
from _shared import IMAGES as OUT
from _shared import settle, wait_until

from napari_scdl._qt.cohort import CohortWidget
from napari_scdl._qt.launch import add_sample
from napari_scdl.cohort._synthetic import synthetic_cohort


def main() -> None:
    viewer = napari.Viewer(title="napari-scdl")
    viewer.window._qt_window.resize(1500, 950)
    for a in synthetic_cohort(3, n_spots=800, n_genes=200, image=True).values():
        add_sample(viewer, a)
    w = CohortWidget(viewer)
    viewer.window.add_dock_widget(w, area="right", name="Cohort")
    w.opts.n_domains.value = 5
    w.opts.epochs.value = 150
    w.run()
    wait_until(lambda: not w.runner.running)
    settle(5)
    viewer.window.screenshot(str(OUT / "cohort_widget.png"), canvas_only=False)
    from napari_scdl.tl.cohort import plot_proportions

    plot_proportions(w.result.proportions, OUT / "cohort_proportions.png")
    print(w.summary.text())
    viewer.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
