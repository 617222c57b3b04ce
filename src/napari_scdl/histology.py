"""Per-spot histology features from the H&E image stored with a sample.

For each spot, colour and texture statistics of a spot-sized square patch of the best
image in ``uns['spatial'][library_id]['images']`` (``hires`` before ``lowres``; any other
key last). Spot centres ``obsm['spatial']`` are (x, y) full-resolution pixels and map to
image (row, col) = (y, x) * ``tissue_{res}_scalef``. Statistics come from summed-area
tables, so the cost is O(image pixels + spots) whatever the patch size.

The features follow what SpaGCN (Hu et al. 2021, Nat. Methods 18:1342) takes from the
image (the colour of the spot's neighbourhood), with texture (gradient energy) added.
"""

from __future__ import annotations

import logging

import numpy as np

from .errors import MissingKeyError, ScdlError

logger = logging.getLogger(__name__)

FEATURE_NAMES = (
    "mean_r",
    "mean_g",
    "mean_b",
    "std_r",
    "std_g",
    "std_b",
    "gradient",
    "darkness",
)
_RES_ORDER = ("hires", "lowres")


def best_image(adata, library_id: str | None = None) -> tuple[np.ndarray, float, str] | None:
    """``(image, scale, name)`` of the highest-resolution image of the library, or None.

    ``scale`` maps full-resolution pixels to the image's pixels.
    """
    spatial = adata.uns.get("spatial") or {}
    if not spatial:
        return None
    lib = library_id if library_id is not None else next(iter(spatial))
    if lib not in spatial:
        raise ScdlError(f"library {lib!r} not in adata.uns['spatial'] ({list(spatial)})")
    entry = spatial[lib] or {}
    images = entry.get("images") or {}
    scalefactors = entry.get("scalefactors") or {}
    names = [r for r in _RES_ORDER if r in images] + [r for r in images if r not in _RES_ORDER]
    for name in names:
        scale = scalefactors.get(f"tissue_{name}_scalef")
        img = np.asarray(images[name])
        if scale is None or img.ndim not in (2, 3) or img.size == 0:
            continue
        return img, float(scale), name
    return None


def spot_image_features(
    adata,
    *,
    library_id: str | None = None,
    patch_scale: float = 1.0,
    required: bool = False,
) -> np.ndarray | None:
    """Colour and texture of the H&E around each spot.

    Parameters
    ----------
    library_id
        Library in ``uns['spatial']`` (default: the first).
    patch_scale
        Half width of the square patch in spot radii (1: the spot itself).
    required
        Raise a :class:`MissingKeyError` when there is no usable image (default: return None).

    Returns
    -------
    (n_spots, 8) float32 array (:data:`FEATURE_NAMES`: mean and standard deviation of R, G,
    B in [0, 1], mean gradient magnitude, 1 - mean intensity), or None without an image.
    """
    found = best_image(adata, library_id)
    if found is None:
        if required:
            raise MissingKeyError(
                "no tissue image with its scale factor in adata.uns['spatial'][library]"
                "['images'] / ['scalefactors']; read the sample with napari_scdl.io.read() "
                "from a Space Ranger folder that has spatial/tissue_lowres_image.png"
            )
        return None
    if "spatial" not in adata.obsm:
        raise MissingKeyError("adata.obsm['spatial'] (spot coordinates) is missing")
    img, scale, name = found
    img = _as_float_rgb(img)
    h, w = img.shape[:2]
    diameter = _spot_diameter(adata, library_id)
    half = max(1, int(round(diameter * scale / 2 * patch_scale)))
    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2] * scale
    rows = np.clip(np.round(xy[:, 1]).astype(int), 0, h - 1)
    cols = np.clip(np.round(xy[:, 0]).astype(int), 0, w - 1)
    r0, r1 = np.clip(rows - half, 0, h), np.clip(rows + half + 1, 0, h)
    c0, c1 = np.clip(cols - half, 0, w), np.clip(cols + half + 1, 0, w)
    area = ((r1 - r0) * (c1 - c0)).astype(np.float64)[:, None]

    gray = img.mean(2)
    gy, gx = np.gradient(gray)
    grad = np.hypot(gx, gy)
    planes = np.concatenate([img, img**2, grad[..., None], gray[..., None]], axis=2)
    sums = _box_sums(_integral(planes), r0, r1, c0, c1) / area
    mean = sums[:, :3]
    std = np.sqrt(np.maximum(sums[:, 3:6] - mean**2, 0))
    feats = np.column_stack([mean, std, sums[:, 6], 1 - sums[:, 7]]).astype(np.float32)
    logger.info(
        "histology: %d features per spot from the %s image (patch %d px)",
        feats.shape[1],
        name,
        2 * half + 1,
    )
    return feats


def _as_float_rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    if np.issubdtype(img.dtype, np.integer):
        top = 255.0 if img.max(initial=0) <= 255 else float(np.iinfo(img.dtype).max)
        return img.astype(np.float32) / top
    img = np.nan_to_num(img.astype(np.float32))
    hi = float(img.max(initial=0.0))
    return img / hi if hi > 1.0 else img


def _spot_diameter(adata, library_id: str | None) -> float:
    from .layers import spot_diameter

    return float(spot_diameter(adata, library_id))


def _integral(planes: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column."""
    out = np.zeros((planes.shape[0] + 1, planes.shape[1] + 1, planes.shape[2]), np.float64)
    out[1:, 1:] = planes.astype(np.float64).cumsum(0).cumsum(1)
    return out


def _box_sums(s: np.ndarray, r0, r1, c0, c1) -> np.ndarray:
    return s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
