"""The layers that show annotation columns: one result layer per column, flagged
``metadata['annotation']``; only the column being edited is visible."""

from __future__ import annotations

from ...colors import paint_categorical, sync_features
from ..common.result_layers import RESULT_ROLE, show_categorical
from ..common.samples import same_layer


def _is_annotation(ly, adata) -> bool:
    return (
        ly.metadata.get("scdl_role") == RESULT_ROLE
        and ly.metadata.get("annotation", False)
        and ly.metadata.get("adata") is adata
    )


def annotation_layer(viewer, adata, column: str):
    """The layer showing ``column`` of ``adata``, or None."""
    return next(
        (ly for ly in viewer.layers if _is_annotation(ly, adata) and ly.metadata["key"] == column),
        None,
    )


def show_annotation(viewer, spots, column: str, *, repaint_only: bool = False):
    """Show ``column`` over the tissue (creating its layer), hide the other columns' layers.

    ``repaint_only``: just recolour an existing layer (after an edit; fast).
    """
    adata = spots.metadata["adata"]
    layer = annotation_layer(viewer, adata, column)
    if layer is not None and repaint_only:
        paint_categorical(layer, adata, column, viewer=viewer)
        sync_features(layer, adata, [column])
        return layer
    name = f"{spots.name.removesuffix(' spots')} · {column}"
    layer, _ = show_categorical(viewer, spots, column, name=name)
    layer.metadata["annotation"] = True
    for ly in viewer.layers:
        if not same_layer(ly, layer) and _is_annotation(ly, adata):
            ly.visible = False
    layer.visible = True
    return layer


def drop_deleted_columns(viewer, adata, columns: list[str]) -> None:
    """Remove the layers of annotation columns that no longer exist."""
    for ly in list(viewer.layers):
        if _is_annotation(ly, adata) and ly.metadata.get("key") not in columns:
            viewer.layers.remove(ly)


def raise_to_top(viewer, layer) -> None:
    if layer is not None and layer in viewer.layers:
        viewer.layers.move(viewer.layers.index(layer), len(viewer.layers))
