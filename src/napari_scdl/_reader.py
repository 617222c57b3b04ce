"""npe2 reader contribution: Space Ranger folders and .h5ad files."""

from __future__ import annotations

from .io import can_read


def get_reader(path):
    """Return a reader for ``path`` if napari-scdl understands it, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if not can_read(path):
        return None
    return read_layers


def read_layers(path):
    """Read ``path`` into tissue image layers and a spots layer (one AnnData)."""
    from .io import read
    from .layers import adata_to_layers

    if isinstance(path, list):
        path = path[0]
    return adata_to_layers(read(path))
