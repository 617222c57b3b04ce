"""Find the AnnData of each open sample from the viewer's layers (no globals).

Every spots layer made by :mod:`napari_scdl.layers` holds its AnnData in
``metadata['adata']``; widgets choose a sample with :class:`SampleSelector`.
"""

from __future__ import annotations

import pandas as pd
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox

from ...errors import ScdlError
from ...layers import IMAGE_ROLE, SPOTS_ROLE


def same_layer(a, b) -> bool:
    """Whether ``a`` and ``b`` are the same layer.

    A plugin widget holds napari's ``PublicOnlyProxy`` viewer, which hands out a new proxy
    object per access, so ``a is b`` is False even for the same layer (issue 12)."""
    return getattr(a, "__wrapped__", a) is getattr(b, "__wrapped__", b)


def spot_layers(viewer) -> list:
    """Points layers of the viewer that carry an AnnData."""
    return [
        ly for ly in viewer.layers
        if ly.metadata.get("scdl_role") == SPOTS_ROLE and ly.metadata.get("adata") is not None
    ]


def image_layers_of(viewer, sample_id: str) -> list:
    return [
        ly for ly in viewer.layers
        if ly.metadata.get("scdl_role") == IMAGE_ROLE and ly.metadata.get("sample_id") == sample_id
    ]


def get_adata(layer):
    """The AnnData behind a spots layer."""
    adata = layer.metadata.get("adata") if layer is not None else None
    if adata is None:
        raise ScdlError("no sample is open: open a Visium folder or .h5ad file first (File > Open)")
    return adata


def categorical_columns(adata) -> list[str]:
    """obs columns a user may colour or compare by (categorical or few-valued strings)."""
    out = []
    for c in adata.obs.columns:
        s = adata.obs[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or (s.dtype == object and s.nunique() <= 100):
            out.append(c)
    return out


class SampleSelector(QComboBox):
    """A combo box listing the open samples (spots layers); follows layer changes."""

    changed = Signal(object)  # the chosen spots layer (or None)

    def __init__(self, viewer, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.setToolTip("The sample (spots layer) this panel works on")
        self._refresh()
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        self.currentIndexChanged.connect(lambda _: self.changed.emit(self.layer))

    def _refresh(self, *_) -> None:
        current = self.layer
        layers = spot_layers(self.viewer)
        self.blockSignals(True)
        self.clear()
        for ly in layers:
            self.addItem(ly.name, ly)
        if current in layers:
            self.setCurrentIndex(layers.index(current))
        self.blockSignals(False)
        if not same_layer(self.layer, current):
            self.changed.emit(self.layer)

    @property
    def layer(self):
        """The chosen spots layer, or None."""
        ly = self.currentData()
        if ly is not None and ly not in self.viewer.layers:
            return None
        return ly

    @property
    def adata(self):
        return get_adata(self.layer)
