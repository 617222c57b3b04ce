"""Tissue image helpers: PNG/JPEG/TIFF to uint8 RGB, lazily for large TIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFormatError


def to_uint8_rgb(img: np.ndarray) -> np.ndarray:
    """Any greyscale/RGB/RGBA image (uint8, uint16 or float) as uint8 RGB (H, W, 3)."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise DataFormatError(f"expected an RGB image, got an array of shape {img.shape}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    if np.issubdtype(img.dtype, np.integer):
        top = np.iinfo(img.dtype).max if img.max() > 255 else 255
        return (img.astype(np.float32) * (255.0 / top)).round().astype(np.uint8)
    img = np.nan_to_num(img.astype(np.float32))
    hi = float(img.max()) if img.size else 1.0
    scale = 255.0 if hi <= 1.0 else 255.0 / hi
    return np.clip(img * scale, 0, 255).round().astype(np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG (fully) as uint8 RGB; raise a DataFormatError naming the file."""
    import imageio.v3 as iio

    path = Path(path)
    try:
        img = iio.imread(path)
    except Exception as err:  # noqa: BLE001 - any decoder failure means "unreadable image"
        raise DataFormatError(
            f"cannot read the image {path} ({type(err).__name__}: {err}); "
            "expected a PNG, JPEG or TIFF file"
        ) from err
    return to_uint8_rgb(img)


def open_large_image(path: str | Path):
    """Open a (possibly huge, pyramidal) TIFF lazily: a list of dask arrays, largest first.

    Other formats are read fully. Each level is (H, W, 3).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"full-resolution image {path} not found")
    if path.suffix.lower() not in (".tif", ".tiff", ".btf"):
        return [read_image(path)]
    import dask.array as da
    import tifffile
    import zarr

    try:
        store = tifffile.imread(path, aszarr=True)
        group = zarr.open(store, mode="r")
    except Exception as err:  # noqa: BLE001
        raise DataFormatError(f"cannot read the TIFF image {path} ({err})") from err
    if hasattr(group, "shape"):
        levels = [da.from_zarr(group)]
    else:
        keys = sorted(group.array_keys(), key=lambda k: int(k) if str(k).isdigit() else 0)
        levels = [da.from_zarr(group[k]) for k in keys]
    out = []
    for lev in levels:
        if lev.ndim == 3 and lev.shape[0] in (3, 4) and lev.shape[2] not in (3, 4):
            lev = lev.transpose(1, 2, 0)
        if lev.ndim == 2:
            lev = da.stack([lev] * 3, axis=-1)
        out.append(lev[..., :3])
    return out
