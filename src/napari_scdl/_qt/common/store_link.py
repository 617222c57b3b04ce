"""Connect a widget to the annotation store of the chosen sample (one per AnnData)."""

from __future__ import annotations

from collections.abc import Callable

from ...annotations import AnnotationStore
from .runner import report_error


def switch_store(old, layer, on_event: Callable, on_error: Callable[[str], None]):
    """Disconnect ``on_event`` from ``old`` and return the store of ``layer``'s sample
    (connected to ``on_event``), or None when there is no sample or it cannot be opened."""
    if old is not None:
        old.events.disconnect(on_event)
    if layer is None:
        return None
    try:
        store = AnnotationStore.for_adata(layer.metadata["adata"])
    except Exception as err:  # noqa: BLE001 - shown to the user
        on_error(report_error(err, "opening the annotations"))
        return None
    store.events.connect(on_event)
    return store
