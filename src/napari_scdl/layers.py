"""The one converter between an AnnData and napari layers (no Qt, no napari import).

Coordinates: ``obsm['spatial']`` holds (x, y) in full-resolution pixels; napari wants
(row, col) = (y, x). :func:`xy_to_rc` / :func:`rc_to_xy` are the only places that swap.
Every layer lives in full-resolution pixel units: tissue images are scaled by
``1 / scalefactor`` so spots sit on the tissue they were measured from.

Each layer's ``metadata`` carries ``sample_id``; the spots layer also carries the AnnData
itself under ``metadata['adata']`` (the single source of truth every widget reads).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .errors import MissingKeyError

logger = logging.getLogger(__name__)

SPOTS_ROLE = "spots"
IMAGE_ROLE = "image"
CELLS_ROLE = "cell_boundaries"
LABELS_ROLE = "cell_labels"
MAX_POLYGONS = 50_000  # above this, cell outlines are left to a Labels layer (scalable)
_IMAGE_ORDER = ("hires", "lowres")
DEFAULT_SPOT_COLOR = "#ffffff40"  # translucent white: the tissue stays visible


def xy_to_rc(xy: np.ndarray) -> np.ndarray:
    """(x, y) full-resolution pixels -> napari (row, col)."""
    xy = np.asarray(xy, dtype=float)
    return xy[:, [1, 0]]


def rc_to_xy(rc: np.ndarray) -> np.ndarray:
    """napari (row, col) -> (x, y) full-resolution pixels."""
    rc = np.asarray(rc, dtype=float)
    return rc[:, [1, 0]]


def library_id(adata, library_id: str | None = None) -> str | None:
    """The library shown for ``adata`` (the given one, the reader's, or the first)."""
    libs = list((adata.uns.get("spatial") or {}).keys())
    if library_id is not None:
        return library_id
    lib = (adata.uns.get("scdl") or {}).get("library_id")
    if lib in libs:
        return lib
    return libs[0] if libs else lib


def sample_name(adata) -> str:
    return str((adata.uns.get("scdl") or {}).get("library_id") or "sample")


def spot_diameter(adata, lib: str | None = None) -> float:
    """Spot diameter in full-resolution pixels (scale factors, else from spot spacing)."""
    lib = library_id(adata, lib)
    sf = ((adata.uns.get("spatial") or {}).get(lib) or {}).get("scalefactors") or {}
    if "spot_diameter_fullres" in sf:
        return float(sf["spot_diameter_fullres"])
    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    if len(xy) < 2:
        return 1.0
    from scipy.spatial import cKDTree

    d, _ = cKDTree(xy).query(xy[: min(len(xy), 5000)], k=2)
    spacing = float(np.median(d[:, 1]))
    # Visium spots are 55 um wide on a 100 um grid; other platforms: nearly touching
    return spacing * (0.55 if "array_row" in adata.obs else 0.9)


def image_layers(adata, *, library_id_: str | None = None) -> list[tuple[Any, dict, str]]:
    """Tissue images of ``adata`` as RGB image layer-data tuples, best resolution visible."""
    from .io._images import open_large_image, to_uint8_rgb

    lib = library_id(adata, library_id_)
    meta = {"sample_id": _sample_id(adata), "scdl_role": IMAGE_ROLE, "library_id": lib}
    out = _sdata_image_layers(adata, meta)
    if out:
        return out
    fullres = (adata.uns.get("scdl") or {}).get("fullres_image")
    if fullres:
        levels = open_large_image(fullres)
        kw = {"multiscale": len(levels) > 1} if len(levels) > 1 else {}
        data = levels if len(levels) > 1 else levels[0]
        out.append((data, {"name": f"{sample_name(adata)} full-res", "rgb": True,
                           "metadata": dict(meta, resolution="fullres"), **kw}, "image"))
    spatial = (adata.uns.get("spatial") or {}).get(lib) or {}
    images, sf = spatial.get("images") or {}, spatial.get("scalefactors") or {}
    for res in _IMAGE_ORDER:
        if res not in images:
            continue
        scalef = float(sf.get(f"tissue_{res}_scalef", 1.0))
        out.append((
            to_uint8_rgb(images[res]),
            {"name": f"{sample_name(adata)} H&E ({res})", "rgb": True,
             "scale": (1.0 / scalef, 1.0 / scalef), "visible": not out,
             "metadata": dict(meta, resolution=res)},
            "image",
        ))
    return out


def feature_columns(obs: pd.DataFrame) -> list[str]:
    """The ``obs`` columns a spots layer shows on hover: 1-D numeric, boolean, categorical."""
    return [
        c for c in obs.columns
        if isinstance(obs[c].dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(obs[c])
        or pd.api.types.is_bool_dtype(obs[c])
    ]


def spot_features(adata, columns: list[str] | None = None) -> pd.DataFrame:
    """Per-spot table shown in the Points layer: barcode plus 1-D numeric/categorical obs."""
    obs = adata.obs
    cols = columns if columns is not None else feature_columns(obs)
    feats = obs[cols].reset_index(drop=True).copy()
    feats.insert(0, "barcode", np.asarray(adata.obs_names, dtype=object))
    return feats


def spots_layer(adata, *, library_id_: str | None = None, name: str | None = None):
    """The spots of ``adata`` as a Points layer-data tuple at their true diameter."""
    if "spatial" not in adata.obsm:
        raise MissingKeyError("adata.obsm['spatial'] is missing: no spot coordinates to show")
    lib = library_id(adata, library_id_)
    return (
        xy_to_rc(adata.obsm["spatial"]),
        {
            "name": name or f"{sample_name(adata)} spots",
            "size": spot_diameter(adata, lib),
            "symbol": spot_symbol(adata),
            "features": spot_features(adata),
            "face_color": DEFAULT_SPOT_COLOR,
            "border_color": DEFAULT_SPOT_COLOR,  # the rim of sub-pixel spots, see colors._borderless
            "border_width": 0.0,
            "metadata": {"adata": adata, "sample_id": _sample_id(adata),
                         "scdl_role": SPOTS_ROLE, "library_id": lib},
        },
        "points",
    )


def spot_symbol(adata) -> str:
    """``square`` for the square bins of Visium HD, else ``disc`` (round Visium spots, and
    any other platform)."""
    from .graph import grid_neighbours

    return "square" if grid_neighbours(adata) == 4 else "disc"


def adata_to_layers(adata, *, library_id_: str | None = None) -> list[tuple[Any, dict, str]]:
    """All layers of one sample: its tissue images (bottom), cell labels or outlines (from
    SpatialData, Xenium) and its spots/cells/bins as points (top)."""
    return [*image_layers(adata, library_id_=library_id_), *cell_layers(adata),
            spots_layer(adata, library_id_=library_id_)]


def _sdata_info(adata):
    from .io.spatialdata import get_spatialdata

    info = (adata.uns.get("scdl") or {}).get("spatialdata")
    if not info:
        return None, None
    return info, get_spatialdata(adata)


def _pixel_affine(adata, element, cs: str) -> np.ndarray:
    """3x3 (x, y) affine: ``element``'s intrinsic frame -> the sample's pixel frame."""
    from .io.spatialdata import _affine

    info = adata.uns["scdl"]["spatialdata"]
    pix = np.asarray(info["pixel_from_cs"], float).reshape(3, 3)
    return pix @ _affine(element, cs)


def _rc_affine(m: np.ndarray) -> np.ndarray:
    """An (x, y) 3x3 affine as napari's (row, col) one."""
    p = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], float)
    return p @ m @ p


def _sdata_image_layers(adata, meta: dict) -> list:
    """The SpatialData image of ``adata`` at full resolution, lazily (every pyramid level)."""
    info, sdata = _sdata_info(adata)
    if sdata is None or not info.get("image") or info["image"] not in sdata.images:
        return []
    from .io.spatialdata import levels

    element = sdata.images[info["image"]]
    levs = levels(element)
    m = _pixel_affine(adata, levs[0], info["coordinate_system"])
    rgb = levs[0].shape[0] == 3 and levs[0].dtype == np.uint8
    data = [lv.data.transpose(1, 2, 0) if rgb else lv.data[0] for lv in levs]
    kw: dict = {"rgb": True} if rgb else {"colormap": "gray", "blending": "additive"}
    if not rgb:
        thumb = np.asarray(levs[-1].data[0])
        lo, hi = np.percentile(thumb, [1, 99.8]) if thumb.size else (0, 1)
        kw["contrast_limits"] = (float(lo), float(max(hi, lo + 1)))
    return [(data if len(data) > 1 else data[0],
             {"name": f"{sample_name(adata)} {info['image']}", "affine": _rc_affine(m),
              "multiscale": len(data) > 1, "metadata": dict(meta, resolution="fullres"), **kw},
             "image")]


def cell_layers(adata, *, max_polygons: int = MAX_POLYGONS) -> list:
    """Cell segmentations of a SpatialData-backed sample: a Labels layer when the table
    annotates labels, else cell outlines (polygons) as a Shapes layer when there are at most
    ``max_polygons`` of them. Empty for spot platforms."""
    info, sdata = _sdata_info(adata)
    if sdata is None:
        return []
    meta = {"sample_id": _sample_id(adata), "library_id": library_id(adata)}
    cs = info["coordinate_system"]
    if info["geometry"] == "labels" and info["region"] in sdata.labels:
        from .io.spatialdata import levels

        levs = levels(sdata.labels[info["region"]])
        m = _pixel_affine(adata, levs[0], cs)
        data = [lv.data for lv in levs]
        return [(data if len(data) > 1 else data[0],
                 {"name": f"{sample_name(adata)} {info['region']}", "affine": _rc_affine(m),
                  "multiscale": len(data) > 1, "opacity": 0.5,
                  "metadata": dict(meta, scdl_role=LABELS_ROLE, element=info["region"])},
                 "labels")]
    name = info.get("boundaries") or (info["region"] if info["geometry"] == "polygon" else "")
    if not name or name not in sdata.shapes:
        return []
    gdf = sdata.shapes[name]
    if len(gdf) > max_polygons:
        logger.info("%d cell outlines in %r: not drawn (more than %d)", len(gdf), name, max_polygons)
        return []
    m = _pixel_affine(adata, gdf, cs)
    polys, ids = [], []
    for iid, geom in zip(gdf.index, gdf.geometry, strict=True):
        for part in getattr(geom, "geoms", [geom]):
            xy = np.asarray(part.exterior.coords, float)[:-1]
            polys.append(xy_to_rc((np.c_[xy, np.ones(len(xy))] @ m.T)[:, :2]))
            ids.append(iid)
    return [(polys, {"name": f"{sample_name(adata)} {name}", "shape_type": "polygon",
                     "edge_color": "#ffffffb0", "face_color": "transparent",
                     "edge_width": max(0.5, spot_diameter(adata) / 40),
                     "metadata": dict(meta, scdl_role=CELLS_ROLE, element=name,
                                      instance_ids=np.asarray(ids))}, "shapes")]


def _obs_rows(adata, ids) -> np.ndarray:
    """Row of ``adata`` for each element instance id (-1 where the table has none)."""
    import pandas as pd

    key = adata.uns["scdl"]["spatialdata"]["instance_key"]
    table_ids = adata.obs[key].to_numpy() if key in adata.obs else adata.obs_names.to_numpy()
    return pd.Index(pd.Series(table_ids).astype(str)).get_indexer(pd.Series(ids).astype(str))


def paint_outlines(layer, adata, key: str, *, missing: str = "#80808080") -> dict[str, str]:
    """Colour the cell outlines of a Shapes layer from :func:`cell_layers` by the
    categorical ``obs[key]``; returns the legend (category -> colour)."""
    from .colors import category_colors

    legend = category_colors(adata, key)
    rows = _obs_rows(adata, layer.metadata["instance_ids"])
    labels = adata.obs[key].astype(str).to_numpy()
    layer.edge_color = [legend.get(labels[r], missing) if r >= 0 else missing for r in rows]
    layer.metadata["painted_by"] = key
    return legend


def color_labels(adata, key: str, *, element_ids=None):
    """A napari ``DirectLabelColormap`` painting each cell of a Labels layer with its
    ``obs[key]`` category colour (the scalable way to colour segmentations)."""
    from napari.utils.colormaps import DirectLabelColormap

    from .colors import category_colors

    info = adata.uns["scdl"]["spatialdata"]
    ids = element_ids if element_ids is not None else adata.obs[info["instance_key"]].to_numpy()
    colors = category_colors(adata, key)  # labels ids are the table's instance ids
    labels = adata.obs[key].astype(str).to_numpy()
    mapping = {None: "transparent", 0: "transparent"}
    mapping.update({int(i): colors.get(lab, "#808080") for i, lab in zip(ids, labels, strict=True)})
    return DirectLabelColormap(color_dict=mapping)


def _sample_id(adata) -> str:
    return str((adata.uns.get("scdl") or {}).get("sample_id") or id(adata))
