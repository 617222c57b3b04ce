"""10x Visium HD output folders (``binned_outputs/square_002um|008um|016um/``).

Read with ``spatialdata_io.visium_hd`` (bins as squares of their true size) when the
folder holds the ``feature_slice.h5`` it needs; folders without it (binned outputs copied
on their own, test crops) are read bin size by bin size with the Space Ranger reader of
:mod:`napari_scdl.io.visium`, which understands ``tissue_positions.parquet``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataFormatError

logger = logging.getLogger(__name__)

LAYOUT = (
    "a Visium HD output folder holds binned_outputs/square_002um/, square_008um/ or "
    "square_016um/, each with filtered_feature_bc_matrix.h5 and "
    "spatial/tissue_positions.parquet (and feature_slice.h5 beside binned_outputs/)"
)


def _root(path: Path) -> Path:
    return path / "outs" if (path / "outs" / "binned_outputs").is_dir() else path


def bin_sizes(path: str | Path) -> list[int]:
    """The bin sizes (micrometres) present under ``binned_outputs/``."""
    folder = _root(Path(path)) / "binned_outputs"
    if not folder.is_dir():
        return []
    out = []
    for sub in folder.glob("square_*um"):
        digits = sub.name[len("square_"):-2]
        if digits.isdigit():
            out.append(int(digits))
    return sorted(out)


def is_visium_hd_folder(path: str | Path) -> bool:
    """Whether ``path`` is a Visium HD output folder (holds ``binned_outputs/square_*um``)."""
    return Path(path).is_dir() and bool(bin_sizes(path))


def read_visium_hd(
    path: str | Path,
    *,
    bin_size: int = 8,
    dataset_id: str | None = None,
    library_id: str | None = None,
):
    """Read one bin size of a Visium HD output into one AnnData (one row per bin).

    Parameters
    ----------
    bin_size
        Bin side in micrometres (2, 8 or 16; default 8, or the only one present).
    dataset_id
        Prefix of the output's files (``{dataset_id}_feature_slice.h5``), for spatialdata-io.
    """
    path = Path(path).expanduser()
    root = _root(path)
    sizes = bin_sizes(root)
    if not sizes:
        raise DataFormatError(f"{path} has no binned_outputs/square_*um/ folder; {LAYOUT}")
    if bin_size not in sizes:
        if len(sizes) == 1:
            logger.info("%s holds only %d um bins; reading those", path, sizes[0])
            bin_size = sizes[0]
        else:
            raise DataFormatError(f"{path} has no {bin_size} um bins (it has {sizes} um); choose one")
    library_id = library_id or f"{root.parent.name if root.name == 'outs' else root.name}_{bin_size:03d}um"
    slices = list(root.glob("*feature_slice.h5"))
    if slices:
        adata = _read_spatialdata_io(root, bin_size=bin_size, dataset_id=dataset_id,
                                     library_id=library_id)
    else:
        from .visium import read_visium

        logger.info("%s has no feature_slice.h5 (spatialdata-io needs it); reading the "
                    "binned output folder directly", root)
        adata = read_visium(root / "binned_outputs" / f"square_{bin_size:03d}um",
                            library_id=library_id)
    adata.uns["scdl"]["platform"] = "visium_hd"
    adata.uns["scdl"]["bin_size_um"] = int(bin_size)
    return adata


def _read_spatialdata_io(root: Path, *, bin_size: int, dataset_id: str | None, library_id: str):
    import spatialdata_io

    from .spatialdata import from_spatialdata

    try:
        sdata = spatialdata_io.visium_hd(root, dataset_id=dataset_id, bin_size=bin_size,
                                         bins_as_squares=True)
    except Exception as err:  # noqa: BLE001 - the reader raises many kinds
        raise DataFormatError(f"spatialdata-io cannot read the Visium HD folder {root} ({err}); {LAYOUT}") from err
    table = next((t for t in sdata.tables if t.endswith(f"{bin_size:03d}um")), None)
    return from_spatialdata(sdata, table=table, source=root, library_id=library_id)
