"""The one converter between an AnnData and napari layers (no Qt, no napari import).

Coordinates: ``obsm['spatial']`` holds (x, y) in full-resolution pixels; napari wants
(row, col) = (y, x). :func:`xy_to_rc` / :func:`rc_to_xy` are the only places that swap.
Every layer lives in full-resolution pixel units: tissue images are scaled by
``1 / scalefactor`` so spots sit on the tissue they were measured from.

Each layer's ``metadata`` carries ``sample_id``; the spots layer also carries the AnnData
itself under ``metadata['adata']`` (the single source of truth every widget reads).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .errors import MissingKeyError

SPOTS_ROLE = "spots"
IMAGE_ROLE = "image"
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
    out = []
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


def spot_features(adata, columns: list[str] | None = None) -> pd.DataFrame:
    """Per-spot table shown in the Points layer: barcode plus 1-D numeric/categorical obs."""
    obs = adata.obs
    cols = columns if columns is not None else [
        c for c in obs.columns
        if isinstance(obs[c].dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(obs[c])
        or pd.api.types.is_bool_dtype(obs[c])
    ]
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
    """All layers of one sample: its tissue images (bottom) and its spots (top)."""
    return [*image_layers(adata, library_id_=library_id_), spots_layer(adata, library_id_=library_id_)]


def _sample_id(adata) -> str:
    return str((adata.uns.get("scdl") or {}).get("sample_id") or id(adata))
