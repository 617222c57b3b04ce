"""Screenshots of the "Transfer" panel (docs/transfer.md): the expert layers of the left
half of DLPFC 151673 as reference (written to a temporary .h5ad), carried to the right
half, which the model never saw labelled.

Run: xvfb-run -a -s "-screen 0 1800x1050x24" python docs/screenshots/transfer.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _shared import IMAGES, sample_with_truth, settle, wait_until


def main() -> None:
    import napari

    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.transfer import TransferWidget

    adata, truth = sample_with_truth()
    adata.obs["layer"] = truth.to_numpy(dtype=object)
    x = adata.obsm["spatial"][:, 0]
    left = x < np.median(x)
    tmp = Path(tempfile.mkdtemp()) / "reference_left.h5ad"
    ref = adata[left & adata.obs["layer"].notna().to_numpy()].copy()
    ref.obs["layer"] = ref.obs["layer"].astype(str)
    ref.write_h5ad(tmp)
    query = adata[~left].copy()
    del query.obs["layer"]
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1700, 1000)
    add_sample(viewer, query)
    widget = TransferWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right", name="Transfer")
    widget.set_reference(str(tmp))
    widget.labels_key.setCurrentText("layer")
    widget.run()
    wait_until(lambda: not widget.runner.running)
    widget.show_spot(int(np.argmin(widget.sample.adata.obs["transferred_label_confidence"])))
    settle()
    viewer.window.screenshot(str(IMAGES / "transfer_labels.png"), canvas_only=False)
    widget.show_label.setCurrentText("WM")
    widget.paint_rare("WM")
    settle()
    viewer.window.screenshot(str(IMAGES / "transfer_rare.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main()
