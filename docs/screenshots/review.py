"""Screenshot: the Learn & review widget with a prediction and the review queue.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/review.py
On the real DLPFC slide (when ../shared/data is present): 5% of the spots of each expert
layer are labelled, the GNN predicts the rest, and the review queue steps to a suggestion.
"""

from __future__ import annotations

import tempfile

import numpy as np
from _shared import DLPFC, IMAGES, sample_with_truth, settle, wait_until

OUT = IMAGES / "review_queue.png"


def _wait(runner) -> None:
    wait_until(lambda: not runner.running)


def main() -> None:
    import napari

    from napari_scdl._qt.annotate.widget import AnnotationWidget
    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.review.widget import ReviewWidget
    from napari_scdl.annotations import AnnotationStore

    adata, truth = sample_with_truth()
    # autosave into a scratch folder, never next to the shared data (keep the reference)
    store = AnnotationStore.for_adata(adata, project_dir=tempfile.mkdtemp())
    for c in list(store.columns):
        store.delete_column(c)
    store.create_column("pathology")
    rng = np.random.default_rng(0)
    picked = np.concatenate(
        [
            rng.choice(
                np.flatnonzero((truth == t).to_numpy()),
                int(0.05 * (truth == t).sum()),
                replace=False,
            )
            for t in sorted(truth.dropna().unique())
        ]
    )
    store.set_labels("pathology", truth.iloc[picked])

    viewer = napari.Viewer(title="napari-scdl: learn & review")
    viewer.window._qt_window.resize(1500, 950)
    add_sample(viewer, adata)
    annotate = AnnotationWidget(viewer)
    viewer.window.add_dock_widget(annotate, area="right", name="Annotate")
    w = ReviewWidget(viewer)
    viewer.window.add_dock_widget(w, area="right", name="Learn & review", tabify=True)
    w.form.n_ensemble.value = 1
    w.predict()
    _wait(w.runner)
    w.suggest()
    w.queue.press(int(store.categories("pathology").index(w.queue.table["predicted"].iloc[0])) + 1)
    w.explain.category.setCurrentText("WM" if DLPFC.exists() else store.categories("pathology")[0])
    w.explain_box.expand(animate=False)
    w.explain.explain()
    _wait(w.explain.runner)
    settle(5)
    viewer.window.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}; {w.summary.text()}")


if __name__ == "__main__":
    main()
