"""10x Xenium output folders, through spatialdata-io.

A complete output (``experiment.xenium``, ``cells.zarr.zip``, ...) is read by
``spatialdata_io.xenium``. Folders without ``cells.zarr.zip`` (crops, exports) are
assembled here from the same files with spatialdata's models: ``cells.parquet`` (or
``cells.csv.gz``), ``cell_feature_matrix.h5``, ``cell_boundaries.parquet``,
``morphology_focus.ome.tif`` and, on request, ``transcripts.parquet``. Both end in the
AnnData of :func:`napari_scdl.io.spatialdata.from_spatialdata` (one row per cell,
``obsm['spatial']`` in morphology-image pixels).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .spatialdata import from_spatialdata

logger = logging.getLogger(__name__)

LAYOUT = (
    "a Xenium output folder holds experiment.xenium (with pixel_size), cells.parquet, "
    "cell_feature_matrix.h5, cell_boundaries.parquet and morphology_focus.ome.tif"
)


def is_xenium_folder(path: str | Path) -> bool:
    """Whether ``path`` looks like a Xenium output folder."""
    path = Path(path)
    return path.is_dir() and (
        (path / "experiment.xenium").exists()
        or ((path / "cell_feature_matrix.h5").exists()
            and any((path / f).exists() for f in ("cells.parquet", "cells.csv.gz")))
    )


def read_xenium(
    path: str | Path,
    *,
    pixel_size: float | None = None,
    transcripts: bool = False,
    image_extent_um: tuple[float, float, float, float] | None = None,
    library_id: str | None = None,
):
    """Read a Xenium output folder into one AnnData of cells.

    Parameters
    ----------
    pixel_size
        Micrometres per morphology-image pixel; read from ``experiment.xenium`` when not
        given (real outputs hold it, e.g. 0.2125).
    transcripts
        Also load the transcripts as a (lazy) points element (off by default).
    image_extent_um
        ``(x_min, y_min, x_max, y_max)`` of the morphology image in micrometres, for crops
        whose image does not start at the slide's origin (default: origin 0, ``pixel_size``).
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataFormatError(f"{path} is not a folder; {LAYOUT}")
    specs_file = path / "experiment.xenium"
    if pixel_size is None:
        if not specs_file.exists():
            raise DataFormatError(
                f"{specs_file} is missing, so the morphology image's pixel size is unknown; "
                f"{LAYOUT}. Give the pixel size (micrometres per pixel, 0.2125 on Xenium "
                "Analyzer outputs): CLI --pixel-size 0.2125, Python read(path, "
                "pixel_size=0.2125), or write {\"pixel_size\": 0.2125} to experiment.xenium "
                "in the folder (then it also opens from napari's File > Open)"
            )
        try:
            pixel_size = float(json.loads(specs_file.read_text())["pixel_size"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataFormatError(f"cannot read pixel_size from {specs_file} ({err})") from err
    missing = [f for f in ("cell_feature_matrix.h5",) if not (path / f).exists()]
    if not any((path / f).exists() for f in ("cells.parquet", "cells.csv.gz")):
        missing.append("cells.parquet")
    if missing:
        raise DataFormatError(f"{path} lacks {', '.join(missing)}; {LAYOUT}")
    if specs_file.exists() and (path / "cells.zarr.zip").exists():
        sdata = _read_spatialdata_io(path, transcripts=transcripts)
    else:
        sdata = _assemble(path, pixel_size=pixel_size, transcripts=transcripts,
                          image_extent_um=image_extent_um)
    image = next((n for n in sdata.images if "focus" in n), None) or next(iter(sdata.images), None)
    adata = from_spatialdata(sdata, table="table", region="cell_circles", image=image,
                             source=path, library_id=library_id or path.name,
                             boundaries="cell_boundaries" if "cell_boundaries" in sdata.shapes else None)
    adata.uns["scdl"]["platform"] = "xenium"
    adata.uns["scdl"]["pixel_size_um"] = float(pixel_size)
    return adata


def _read_spatialdata_io(path: Path, *, transcripts: bool):
    import spatialdata_io

    try:
        return spatialdata_io.xenium(path, cells_as_circles=True, cells_labels=False,
                                     nucleus_labels=False, transcripts=transcripts,
                                     morphology_mip=False, aligned_images=False)
    except Exception as err:  # noqa: BLE001 - the reader raises many kinds
        raise DataFormatError(f"spatialdata-io cannot read the Xenium folder {path} ({err}); {LAYOUT}") from err


def _cells(path: Path):
    import pandas as pd

    if (path / "cells.parquet").exists():
        return pd.read_parquet(path / "cells.parquet")
    return pd.read_csv(path / "cells.csv.gz")


def _assemble(path: Path, *, pixel_size: float, transcripts: bool, image_extent_um=None):
    """SpatialData of a Xenium folder without cells.zarr.zip (the same elements and
    transforms spatialdata-io writes: micrometres in ``global``, the image scaled by
    ``pixel_size``)."""
    import geopandas as gpd
    import pandas as pd
    import scanpy as sc
    import scipy.sparse as sp
    import spatialdata as sd
    from shapely.geometry import Point, Polygon
    from spatialdata.models import Image2DModel, PointsModel, ShapesModel, TableModel
    from spatialdata.transformations import Identity

    cells = _cells(path)
    cells["cell_id"] = cells["cell_id"].astype(str)
    counts = sc.read_10x_h5(path / "cell_feature_matrix.h5", gex_only=True)
    counts.obs_names = counts.obs_names.astype(str)
    common = cells.set_index("cell_id").index.intersection(counts.obs_names)
    if not len(common):
        raise DataFormatError(f"no cell of {path / 'cells.parquet'} is in cell_feature_matrix.h5")
    cells = cells.set_index("cell_id").loc[common]
    table = counts[common].copy()
    table.X = sp.csr_matrix(table.X, dtype=np.float32)
    for col in cells.columns:
        if col not in ("x_centroid", "y_centroid"):
            table.obs[col] = cells[col].to_numpy()
    um = Identity()
    radius = np.sqrt(cells["cell_area"].to_numpy(float) / np.pi) if "cell_area" in cells else 5.0
    circles = gpd.GeoDataFrame(
        {"radius": radius},
        geometry=[Point(x, y) for x, y in cells[["x_centroid", "y_centroid"]].to_numpy(float)],
        index=pd.Index(common, name="cell_id"))
    shapes = {"cell_circles": ShapesModel.parse(circles, transformations={"global": um})}
    bfile = path / "cell_boundaries.parquet"
    if bfile.exists():
        b = pd.read_parquet(bfile)
        b["cell_id"] = b["cell_id"].astype(str)
        polys = {cid: Polygon(g[["vertex_x", "vertex_y"]].to_numpy(float))
                 for cid, g in b.groupby("cell_id", sort=False) if len(g) >= 3}
        gdf = gpd.GeoDataFrame(geometry=list(polys.values()), index=pd.Index(list(polys), name="cell_id"))
        shapes["cell_boundaries"] = ShapesModel.parse(gdf, transformations={"global": um})
    images = {}
    img_file = path / "morphology_focus.ome.tif"
    if img_file.exists():
        import tifffile

        arr = tifffile.imread(img_file)
        arr = arr[None] if arr.ndim == 2 else arr
        images["morphology_focus"] = Image2DModel.parse(
            arr, dims=("c", "y", "x"), scale_factors=_pyramid(arr.shape[-2:]),
            transformations={"global": _image_transform(arr.shape[-2:], pixel_size, image_extent_um)})
        _check_cover(cells, arr.shape[-2:], pixel_size, image_extent_um, img_file)
    else:
        logger.warning("%s not found: cells open without an image", img_file)
    points = {}
    tfile = path / "transcripts.parquet"
    if transcripts and tfile.exists():
        import dask.dataframe as dd

        tx = dd.read_parquet(tfile)
        points["transcripts"] = PointsModel.parse(
            tx, coordinates={"x": "x_location", "y": "y_location"},
            feature_key="feature_name", transformations={"global": um})
    table.obs["region"] = pd.Categorical(["cell_circles"] * table.n_obs)
    table.obs["cell_id"] = table.obs_names.to_numpy()
    table = TableModel.parse(table, region="cell_circles", region_key="region", instance_key="cell_id")
    return sd.SpatialData(images=images, shapes=shapes, points=points, tables={"table": table})


def _image_transform(shape, pixel_size: float, extent):
    from spatialdata.transformations import Scale, Sequence, Translation

    if extent is None:
        return Scale([pixel_size, pixel_size], axes=("y", "x"))
    x0, y0, x1, y1 = map(float, extent)
    return Sequence([Scale([(y1 - y0) / shape[0], (x1 - x0) / shape[1]], axes=("y", "x")),
                     Translation([y0, x0], axes=("y", "x"))])


def _check_cover(cells, shape, pixel_size: float, extent, img_file: Path) -> None:
    if extent is not None:
        return
    x, y = cells["x_centroid"].to_numpy(float), cells["y_centroid"].to_numpy(float)
    w, h = shape[1] * pixel_size, shape[0] * pixel_size
    inside = ((x >= 0) & (x <= w) & (y >= 0) & (y <= h)).mean()
    if inside < 0.5:
        logger.warning(
            "only %.0f%% of the cells fall on %s at %.4g um/pixel (image %.0f x %.0f um; cells "
            "x %.0f-%.0f, y %.0f-%.0f um): is it a crop? pass image_extent_um=(x_min, y_min, "
            "x_max, y_max)", 100 * inside, img_file.name, pixel_size, w, h, x.min(), x.max(),
            y.min(), y.max())


def _pyramid(shape) -> list[int] | None:
    """Scale factors of a 2x pyramid down to about 1,000 pixels (None for small images)."""
    out, side = [], max(shape)
    while side > 2000:
        out.append(2)
        side //= 2
    return out or None
