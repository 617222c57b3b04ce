"""Readers: one per format, all returning one AnnData per sample in the same layout.

``read`` dispatches on the path: a Space Ranger folder or an ``.h5ad`` file.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from .h5ad import read_h5ad
from .visium import is_visium_folder, read_visium

__all__ = ["read", "read_visium", "read_h5ad", "write_h5ad", "can_read"]


def can_read(path: str | Path) -> bool:
    """Whether ``read`` understands ``path`` (used by the napari reader contribution)."""
    path = Path(path)
    return path.suffix == ".h5ad" and path.is_file() or is_visium_folder(path)


def read(path: str | Path, **kwargs):
    """Read a Space Ranger output folder or an ``.h5ad`` file into one AnnData.

    Keyword arguments go to :func:`read_visium` or :func:`read_h5ad`.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFormatError(f"{path} not found")
    if path.is_dir():
        return read_visium(path, **kwargs)
    if path.suffix == ".h5ad":
        kwargs.pop("in_tissue_only", None)
        return read_h5ad(path, **kwargs)
    raise DataFormatError(
        f"napari-scdl cannot open {path}: expected a Space Ranger output folder or an .h5ad file"
    )


def write_h5ad(adata, path: str | Path) -> Path:
    """Write ``adata`` to ``path`` (compressed), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path, compression="gzip")
    return path
