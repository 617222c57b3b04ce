"""Screenshot: drawing on the tissue and assigning spots in the Annotate widget.

Run: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/annotate.py
Uses the real DLPFC slide when ../shared/data is present (else the synthetic sample); the
"drawings" are outlines of the expert layers, standing in for a pathologist's hand.
"""

from __future__ import annotations

import tempfile

import numpy as np
from _shared import DLPFC, IMAGES, sample_with_truth, settle

OUT = IMAGES / "annotate_draw.png"


def main() -> None:
    import napari

    from napari_scdl._qt.annotate.widget import AnnotationWidget
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.annotations import AnnotationStore, geometry
    from napari_scdl.layers import xy_to_rc

    adata, truth = sample_with_truth()
    # autosave into a scratch folder, never next to the shared data
    # (keep a reference: the widget gets this same store while it is alive)
    store = AnnotationStore.for_adata(adata, project_dir=tempfile.mkdtemp(), autosave=True)
    viewer = napari.Viewer(title="napari-scdl: annotate")
    viewer.window._qt_window.resize(1500, 950)
    add_sample(viewer, adata)
    w = AnnotationWidget(viewer)
    viewer.window.add_dock_widget(w, area="right", name="Annotate")
    assert w.store is store
    for c in list(w.store.columns):
        w.store.delete_column(c)
    w.new_column("pathology")
    xy = adata.obsm["spatial"]
    cats = ("White matter", "Layer 1", "Layer 3")
    for name in cats:
        w.add_category(name)
    # two regions already assigned, a third lasso drawn and waiting for "Assign"
    w.draw.auto.setChecked(False)
    shapes = w.draw.shapes_layer()
    for name, gt in zip(cats, ("WM", "Layer1", "Layer3"), strict=True):
        mine = (
            (truth == gt).to_numpy()
            if DLPFC.exists()
            else (truth == truth.unique()[cats.index(name)]).to_numpy()
        )
        if name == "Layer 3":  # a lasso around part of the band
            mine &= xy[:, 1] > np.quantile(xy[mine, 1], 0.55)
        ext, _ = max(geometry.outline(xy[mine], kind="discs"), key=lambda o: len(o[0]))
        w.categories.select(name)
        shapes.add_polygons([xy_to_rc(ext)])
        if name != "Layer 3":
            w.draw.assign_shapes()
    w.categories.select("Layer 3")
    shapes.selected_data = set()
    i = int(np.flatnonzero((truth == "Layer3").to_numpy())[40]) if DLPFC.exists() else 0
    w.inspector.pinned = True
    w.inspector.show_spot(i)
    w.message("Lasso drawn around Layer 3: press 'Assign to Layer 3' (Ctrl+Z undoes)")
    viewer.reset_view()
    settle(5)
    viewer.window.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
