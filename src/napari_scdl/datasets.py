"""The product's own sample data: a deterministic synthetic Visium-like tissue.

No download: everything is generated from a seed. The tissue is an elliptical section on a
Visium hexagonal grid with curved, cortex-like layers (``obs['truth']``), marker genes per
layer, overdispersed counts with spatially varying depth, and an H&E-like image whose
colour and nuclear density differ by layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .io._sample import finish_sample

#: Visium: spots 100 um apart centre to centre, 55 um wide; ~0.73 um per full-res pixel
SPOT_SPACING_PX = 137.0
SPOT_DIAMETER_PX = SPOT_SPACING_PX * 0.55
HIRES_PX = 1000  # longest side of the generated "hires" image

# H&E-like colours per layer (eosin-pink to haematoxylin-purple)
_PALETTE = np.array(
    [[236, 190, 215], [214, 160, 200], [196, 135, 190], [176, 120, 185], [160, 105, 175],
     [205, 150, 170], [225, 175, 190], [150, 110, 160], [190, 140, 200], [170, 95, 150]],
    dtype=np.float32,
)


def _hex_grid(n_spots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """array_row, array_col and (x, y) pixels of ~n_spots spots inside an ellipse."""
    # ellipse of aspect 1.25 holding n_spots hexagonal spots (area per spot = s^2*sqrt(3)/2)
    area = n_spots * SPOT_SPACING_PX**2 * np.sqrt(3) / 2 / (np.pi / 4)
    h = np.sqrt(area / 1.25) * 1.02
    w = 1.25 * h
    dy = SPOT_SPACING_PX * np.sqrt(3) / 2
    n_rows = int(h / dy) + 3
    n_cols = int(w / (SPOT_SPACING_PX / 2)) + 3
    r, c = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    keep = (c % 2) == (r % 2)  # Visium: odd columns on odd rows
    r, c = r[keep], c[keep]
    x = c * SPOT_SPACING_PX / 2 + SPOT_SPACING_PX
    y = r * dy + SPOT_SPACING_PX
    cx, cy = x.mean(), y.mean()
    d = ((x - cx) / (w / 2)) ** 2 + ((y - cy) / (h / 2)) ** 2
    order = np.argsort(d, kind="stable")[:n_spots]  # the n_spots most central spots
    order.sort()
    return r[order], c[order], np.column_stack([x[order], y[order]])


def _layer_of(x: np.ndarray, y: np.ndarray, extent: tuple[float, float], n_domains: int) -> np.ndarray:
    """Curved bands (cortex-like layers) across the section."""
    w, h = extent
    u = y / h + 0.08 * np.sin(2 * np.pi * x / w * 1.3) + 0.1 * (x / w - 0.5) ** 2
    lo, hi = -0.05, 1.1
    return np.clip(((u - lo) / (hi - lo) * n_domains).astype(int), 0, n_domains - 1)


def synthetic_visium(
    n_spots: int = 2000,
    *,
    n_domains: int = 5,
    n_genes: int = 300,
    seed: int = 0,
    image: bool = True,
    dispersion: float = 4.0,
    library_id: str = "synthetic",
):
    """A synthetic Visium-like sample with known layered domains.

    Parameters
    ----------
    n_spots
        Number of in-tissue spots.
    n_domains
        Number of layers (``obs['truth']``: ``Layer1`` ... ``LayerK``).
    n_genes
        Number of genes; each layer has ``max(3, n_genes // (4 * n_domains))`` marker genes
        (``MK<layer>_<i>``), the rest are background genes (``GENE<i>``).
    seed
        Everything is determined by the seed.
    image
        Also draw an H&E-like "hires" image (skip for very large samples).
    dispersion
        Negative-binomial dispersion ``theta`` (smaller = noisier).

    Returns
    -------
    AnnData laid out as :func:`napari_scdl.io.read` returns it, plus ``obs['truth']``.
    """
    import anndata as ad

    rng = np.random.default_rng(seed)
    rows, cols, xy = _hex_grid(int(n_spots))
    n = xy.shape[0]
    extent = (xy[:, 0].max() + SPOT_SPACING_PX, xy[:, 1].max() + SPOT_SPACING_PX)
    layer = _layer_of(xy[:, 0], xy[:, 1], extent, n_domains)

    n_mk = max(3, n_genes // (4 * n_domains))
    n_mk = min(n_mk, n_genes // n_domains)
    base = rng.gamma(0.6, 1.0, size=n_genes).astype(np.float32) * 0.6 + 0.02
    effect = np.ones((n_domains, n_genes), dtype=np.float32)
    names = [f"GENE{i}" for i in range(n_genes)]
    for d in range(n_domains):
        idx = np.arange(d * n_mk, (d + 1) * n_mk)
        effect[d, idx] = rng.uniform(3.0, 6.0, size=n_mk)
        # neighbouring layers share a little of the signal (gradients, as in tissue)
        for nb in (d - 1, d + 1):
            if 0 <= nb < n_domains:
                effect[nb, idx] = np.maximum(effect[nb, idx], 1.5)
        for j, g in enumerate(idx):
            names[g] = f"MK{d + 1}_{j}"
    # spatially smooth sequencing depth + per-spot noise
    depth = np.exp(
        0.35 * np.sin(xy[:, 0] / extent[0] * 3.1 + 0.7) * np.cos(xy[:, 1] / extent[1] * 2.3)
        + rng.normal(0, 0.25, size=n)
    ).astype(np.float32)
    mu = base[None, :] * effect[layer] * depth[:, None] * 3.0
    lam = rng.gamma(dispersion, mu / dispersion)
    counts = rng.poisson(lam).astype(np.float32)
    X = sp.csr_matrix(counts)

    barcodes = [f"SYN{i:06d}-1" for i in range(n)]
    obs = pd.DataFrame(
        {"in_tissue": np.ones(n, dtype=np.int64), "array_row": rows, "array_col": cols},
        index=barcodes,
    )
    obs["truth"] = pd.Categorical([f"Layer{d + 1}" for d in layer],
                                  categories=[f"Layer{d + 1}" for d in range(n_domains)])
    var = pd.DataFrame({"gene_ids": [f"SYNG{i:05d}" for i in range(n_genes)],
                        "feature_types": "Gene Expression"}, index=names)
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.obsm["spatial"] = xy.astype(np.float64)
    scalef = HIRES_PX / max(extent)
    images = {"hires": _he_image(extent, scalef, n_domains, rng)} if image else {}
    adata.uns["spatial"] = {
        library_id: {
            "images": images,
            "scalefactors": {
                "spot_diameter_fullres": SPOT_DIAMETER_PX,
                "fiducial_diameter_fullres": SPOT_DIAMETER_PX * 1.5,
                "tissue_hires_scalef": scalef,
                "tissue_lowres_scalef": scalef * 0.3,
            },
            "metadata": {"source": f"napari_scdl.datasets.synthetic_visium(seed={seed})"},
        }
    }
    return finish_sample(adata, library_id=library_id, source=f"synthetic-{library_id}-{seed}")


def _he_image(extent, scalef: float, n_domains: int, rng: np.random.Generator) -> np.ndarray:
    """H&E-like RGB image: tissue colour and nuclear density vary by layer."""
    W, H = int(extent[0] * scalef) + 1, int(extent[1] * scalef) + 1
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) / scalef
    layer = _layer_of(xx, yy, extent, n_domains)
    cx, cy = extent[0] / 2, extent[1] / 2
    inside = ((xx - cx) / (extent[0] / 2 * 0.97)) ** 2 + ((yy - cy) / (extent[1] / 2 * 0.97)) ** 2 <= 1
    img = np.full((H, W, 3), 245.0, dtype=np.float32)
    tissue = _PALETTE[layer % len(_PALETTE)]
    img[inside] = tissue[inside]
    # nuclei: dark purple dots, density increasing with layer index
    density = 0.004 + 0.012 * (layer / max(n_domains - 1, 1))
    nuclei = (rng.random((H, W)) < density) & inside
    img[nuclei] = [95, 60, 140]
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
