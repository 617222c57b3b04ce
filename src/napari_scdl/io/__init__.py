"""Readers: one per format, all returning one AnnData per sample in the same layout.

``read`` dispatches on what the path is: a SpatialData ``.zarr`` store, a Xenium output
folder, a Visium HD output folder (``binned_outputs/``), a Space Ranger folder or an
``.h5ad`` file. SpatialData, Xenium and Visium HD go through spatialdata / spatialdata-io
(imported lazily).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from .h5ad import read_h5ad
from .visium import is_visium_folder, read_visium

__all__ = ["read", "read_visium", "read_h5ad", "read_spatialdata", "read_xenium",
           "read_visium_hd", "write", "write_h5ad", "write_spatialdata", "can_read", "why_not"]

LOOKED_FOR = (
    "a Space Ranger output folder or an .h5ad file, or a Visium HD folder "
    "(binned_outputs/square_008um/...), a Xenium folder (experiment.xenium, cells.parquet, "
    "cell_feature_matrix.h5) or a SpatialData .zarr store"
)


def _kind(path: Path) -> str | None:
    from .spatialdata import is_spatialdata_store
    from .visium_hd import is_visium_hd_folder
    from .xenium import is_xenium_folder

    if path.is_file():
        return "h5ad" if path.suffix == ".h5ad" else None
    if is_spatialdata_store(path):
        return "spatialdata"
    if is_xenium_folder(path):
        return "xenium"
    if is_visium_hd_folder(path):
        return "visium_hd"
    if is_visium_folder(path):
        return "visium"
    return None


def can_read(path: str | Path) -> bool:
    """Whether ``read`` understands ``path`` (used by the napari reader contribution)."""
    return _kind(Path(path)) is not None


def why_not(path: str | Path) -> str | None:
    """Why ``read`` cannot open ``path`` (what was looked for), or None when it can."""
    path = Path(path)
    if not path.exists():
        return f"{path} not found"
    if _kind(path) is not None:
        if path.suffix == ".h5ad":
            with open(path, "rb") as fh:
                if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                    return (f"{path.name} is not an HDF5 file, so not an AnnData .h5ad (it may "
                            "be a text or CSV file renamed .h5ad); write it with adata.write_h5ad")
        return None
    what = "the folder is empty" if path.is_dir() and not any(path.iterdir()) else (
        f"{path.name} is none of these")
    return f"napari-scdl cannot open {path}: {what}; expected {LOOKED_FOR}."


def read(path: str | Path, **kwargs):
    """Read a sample into one AnnData, whatever its format.

    Keyword arguments go to the format's reader: :func:`read_visium`, :func:`read_h5ad`,
    :func:`read_spatialdata` (``table``, ``region``, ``coordinate_system``, ``image``),
    :func:`read_xenium` (``pixel_size``, ``transcripts``) or :func:`read_visium_hd`
    (``bin_size``, ``dataset_id``).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFormatError(f"{path} not found")
    kind = _kind(path)
    if kind is None:
        if path.is_dir():  # let the Space Ranger reader name what is missing
            return read_visium(path, **kwargs)
        raise DataFormatError(why_not(path))
    if kind == "h5ad":
        kwargs.pop("in_tissue_only", None)
        return read_h5ad(path, **kwargs)
    if kind == "visium":
        return read_visium(path, **kwargs)
    reader = {"spatialdata": read_spatialdata, "xenium": read_xenium,
              "visium_hd": read_visium_hd}[kind]
    return reader(path, **kwargs)


def read_spatialdata(path, **kwargs):
    """See :func:`napari_scdl.io.spatialdata.read_spatialdata`."""
    from .spatialdata import read_spatialdata as _read

    return _read(path, **kwargs)


def read_xenium(path, **kwargs):
    """See :func:`napari_scdl.io.xenium.read_xenium`."""
    from .xenium import read_xenium as _read

    return _read(path, **kwargs)


def read_visium_hd(path, **kwargs):
    """See :func:`napari_scdl.io.visium_hd.read_visium_hd`."""
    from .visium_hd import read_visium_hd as _read

    return _read(path, **kwargs)


def write_h5ad(adata, path: str | Path) -> Path:
    """Write ``adata`` to ``path`` (compressed), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path, compression="gzip")
    return path


def write_spatialdata(adata, path: str | Path | None = None, **kwargs) -> Path:
    """See :func:`napari_scdl.io.spatialdata.write_spatialdata`."""
    from .spatialdata import write_spatialdata as _write

    return _write(adata, path, **kwargs)


def write(adata, path: str | Path) -> Path:
    """Write ``adata`` as a SpatialData store when ``path`` ends in ``.zarr``, else ``.h5ad``."""
    if str(path).rstrip("/").endswith(".zarr"):
        return write_spatialdata(adata, path)
    return write_h5ad(adata, path)
