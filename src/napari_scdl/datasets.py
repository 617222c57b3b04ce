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


def _layer_profiles(rng, n_genes: int, n_domains: int, dtype):
    """``(base, effect, names)``: each gene's base expression, each layer's fold change
    (``n_domains x n_genes``: marker genes ``MK<layer>_<i>`` 3-6x in their layer, 1.5x in
    the neighbouring layers) and the gene names."""
    n_mk = min(max(3, n_genes // (4 * n_domains)), n_genes // n_domains)
    base = rng.gamma(0.6, 1.0, size=n_genes).astype(dtype) * 0.6 + 0.02
    effect = np.ones((n_domains, n_genes), dtype=dtype)
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
    return base, effect, names


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

    base, effect, names = _layer_profiles(rng, n_genes, n_domains, np.float32)
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


# -- large samples: Visium HD bins and Xenium-like cells, counts sampled sparsely ------------
#: Visium HD: 8 um bins; full-resolution pixels of ~0.2738 um
HD_BIN_UM = 8.0
HD_UM_PER_PX = 0.2738
#: Xenium-like cells: ~10 um apart centre to centre, positions in um (pixel size 1)
CELL_SPACING_UM = 10.0


def synthetic_sample(
    n_spots: int = 100_000,
    *,
    layout: str = "visium_hd",
    n_domains: int = 7,
    n_genes: int = 2000,
    seed: int = 0,
    reads_per_spot: float | None = None,
    dispersion: float = 2.0,
    n_modules: int = 32,
    library_id: str | None = None,
):
    """A large synthetic sample with known layered domains (``obs['truth']``), made in
    seconds: 1,000,000 bins x 2,000 genes in under a minute on 2 CPU cores, without ever
    holding a dense spots x genes array.

    ``layout``: ``visium_hd`` (square 8 um bins with ``array_row``/``array_col``, as the
    Visium HD reader returns them), ``xenium`` (cells at jittered random positions, no
    array grid, marked as segmented cells so that the graph is a Delaunay triangulation)
    or ``visium`` (:func:`synthetic_visium` without its image: the small-sample generator,
    dense inside, slow above ~100k spots).

    Counts, sparse by construction: each spot's reads ``~ Poisson(reads_per_spot x depth x
    g)`` with a smooth spatial depth and a per-spot gamma factor ``g``; the reads are split
    over ``n_modules`` random gene modules by spot-specific gamma weights (shape
    ``dispersion``: overdispersed, correlated counts) and, within a module, over its genes
    by the layer's expression profile (marker genes ``MK<layer>_<i>`` 3-6x higher in their
    layer, 1.5x in the neighbouring layers, as in :func:`synthetic_visium`). Default reads
    per spot: 250 for ``visium_hd`` (an 8 um bin), 300 for ``xenium`` (a cell);
    ~150-200 genes detected per spot.
    """
    import anndata as ad

    if layout == "visium":
        a = synthetic_visium(n_spots, n_domains=n_domains, n_genes=n_genes, seed=seed,
                             image=False, library_id=library_id or "synthetic")
        return a
    if layout not in ("visium_hd", "xenium"):
        raise ValueError(f"unknown layout {layout!r}; use visium_hd, xenium or visium")
    rng = np.random.default_rng(seed)
    n = int(n_spots)
    if layout == "visium_hd":
        rows, cols, xy, spacing = _square_grid(n)
    else:
        xy, spacing = _random_cells(n, rng)
        rows = cols = None
    extent = (float(xy[:, 0].max() + spacing), float(xy[:, 1].max() + spacing))
    layer = _layer_of(xy[:, 0], xy[:, 1], extent, n_domains)

    # the layers' expression profiles (as synthetic_visium)
    base, effect, names = _layer_profiles(rng, n_genes, n_domains, np.float64)
    names = np.array(names, dtype=object)
    profile = base[None, :] * effect  # (layers, genes)
    # genes in random modules, the columns ordered by module (a module's genes are
    # neighbours: each spot's reads then sort quickly into a CSR row)
    module = np.sort(rng.integers(0, n_modules, size=n_genes))
    perm = rng.permutation(n_genes)
    profile, names = profile[:, perm], names[perm]
    mod_w = np.stack([np.bincount(module, weights=profile[d], minlength=n_modules)
                      for d in range(n_domains)])  # (layers, modules): reads' module weights
    prob, alias, gene_of, k_max = _alias_tables(profile, module, n_modules)
    depth = np.exp(
        0.35 * np.sin(xy[:, 0] / extent[0] * 3.1 + 0.7) * np.cos(xy[:, 1] / extent[1] * 2.3)
    )
    reads = reads_per_spot or (250.0 if layout == "visium_hd" else 300.0)
    depth = depth * rng.gamma(8.0, 1 / 8.0, size=n) * reads

    indptr, indices, data = [np.zeros(1, dtype=np.int64)], [], []
    step = 10_000  # spots per chunk (keys spot * n_genes + gene fit in int32)
    if step * n_genes >= 2**31:
        step = max(1, (2**31 - 1) // n_genes)
    alias32 = alias.astype(np.int32)
    gene32 = gene_of.astype(np.int32)
    mods = np.arange(n_modules, dtype=np.int32)
    nnz = 0
    for s0 in range(0, n, step):
        s1 = min(n, s0 + step)
        m = s1 - s0
        lay = layer[s0:s1].astype(np.int32)
        wts = rng.gamma(dispersion, 1.0 / dispersion, size=(m, n_modules)) * mod_w[lay]
        k = rng.poisson(wts * (depth[s0:s1] / wts.sum(1))[:, None]).ravel()  # (spot, module)
        # per (spot, module) pair: the first alias cell of its (layer, module) group and
        # the spot's first key; repeated once per read
        first_cell = np.repeat(((lay[:, None] * n_modules + mods) * k_max).ravel(), k)
        key = np.repeat(np.repeat(np.arange(m, dtype=np.int32) * n_genes, n_modules), k)
        x = rng.random(key.size, dtype=np.float32) * k_max  # Walker's alias method
        j = np.minimum(x.astype(np.int32), k_max - 1)
        cell = first_cell + j
        far = (x - j) >= prob[cell]
        cell[far] = alias32[cell[far]]
        key += gene32[cell]
        key.sort()
        ends = np.append(np.flatnonzero(key[1:] != key[:-1]), key.size - 1)[: key.size]
        uniq = key[ends]
        data.append(np.diff(ends, prepend=-1).astype(np.float32))
        indices.append((uniq % n_genes).astype(np.int32))
        indptr.append(nnz + np.searchsorted(uniq, np.arange(1, m + 1) * n_genes))
        nnz += uniq.size
    indptr = np.concatenate(indptr)
    X = sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices),
         indptr.astype(np.int32) if nnz < 2**31 else indptr),
        shape=(n, n_genes),
    )

    lib = library_id or f"synthetic_{layout}"
    obs = pd.DataFrame(index=pd.Index([f"SYN{i:07d}-1" for i in range(n)]))
    obs["in_tissue"] = np.ones(n, dtype=np.int8)
    if rows is not None:
        obs["array_row"], obs["array_col"] = rows, cols
    cats = [f"Layer{d + 1}" for d in range(n_domains)]
    obs["truth"] = pd.Categorical.from_codes(layer, categories=cats)
    var = pd.DataFrame({"gene_ids": [f"SYNG{i:05d}" for i in range(n_genes)],
                        "feature_types": "Gene Expression"}, index=list(names))
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.obsm["spatial"] = xy
    adata.uns["spatial"] = {lib: {
        "images": {},
        "scalefactors": {"spot_diameter_fullres": float(spacing),
                         "tissue_hires_scalef": 1.0, "tissue_lowres_scalef": 1.0},
        "metadata": {"source": f"napari_scdl.datasets.synthetic_sample(layout={layout!r}, "
                               f"seed={seed})"},
    }}
    adata = finish_sample(adata, library_id=lib, source=f"synthetic-{lib}-{seed}")
    if layout == "xenium":  # segmented cells: the graph is their Delaunay triangulation
        adata.uns["scdl"]["spatialdata"] = {"geometry": "circle"}
    return adata


def _square_grid(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """array_row, array_col and (x, y) pixels of the n most central bins of a square grid of
    8 um bins inside an ellipse (aspect 1.25)."""
    px = HD_BIN_UM / HD_UM_PER_PX
    h = np.sqrt(n / (np.pi / 4) / 1.25) * 1.02
    n_rows, n_cols = int(h) + 3, int(1.25 * h) + 3
    r, c = np.divmod(np.arange(n_rows * n_cols), n_cols)
    d = ((c - n_cols / 2) / (n_cols / 2)) ** 2 + ((r - n_rows / 2) / (n_rows / 2)) ** 2
    keep = np.sort(np.argsort(d, kind="stable")[:n])
    r, c = r[keep], c[keep]
    xy = np.column_stack([c * px + px, r * px + px]).astype(np.float64)
    return r.astype(np.int32), c.astype(np.int32), xy, px


def _random_cells(n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(x, y) in um of n cells: a jittered lattice (cells never overlap much) inside an
    ellipse, in random order (as segmentation numbers them)."""
    s = CELL_SPACING_UM
    h = np.sqrt(n / (np.pi / 4) / 1.25) * 1.05
    n_rows, n_cols = int(h) + 3, int(1.25 * h) + 3
    r, c = np.divmod(np.arange(n_rows * n_cols), n_cols)
    d = ((c - n_cols / 2) / (n_cols / 2)) ** 2 + ((r - n_rows / 2) / (n_rows / 2)) ** 2
    keep = np.argsort(d, kind="stable")[:n]
    keep = keep[rng.permutation(n)]
    xy = np.column_stack([c[keep], r[keep]]).astype(np.float64) * s
    xy += rng.uniform(-0.35 * s, 0.35 * s, size=xy.shape) + s
    return xy, s


def _alias_tables(profile: np.ndarray, module: np.ndarray, n_modules: int):
    """Walker alias tables of each (layer, module) group's genes (weights ``profile``),
    padded to the largest module: ``prob``, ``alias`` (flat cell numbers), ``gene_of``
    (the gene of each flat cell) and the padded width."""
    n_layers, n_genes = profile.shape
    members = [np.flatnonzero(module == m) for m in range(n_modules)]
    k_max = max(1, max(len(g) for g in members))
    size = n_layers * n_modules * k_max
    prob = np.ones(size, dtype=np.float32)
    alias = np.arange(size, dtype=np.int64)
    gene_of = np.zeros(size, dtype=np.int64)
    for d in range(n_layers):
        for m, genes in enumerate(members):
            off = (d * n_modules + m) * k_max
            if not len(genes):
                continue
            w = np.zeros(k_max)
            w[: len(genes)] = profile[d, genes]
            gene_of[off: off + k_max] = genes[0]
            gene_of[off: off + len(genes)] = genes
            q = w * k_max / w.sum()
            small = [i for i in range(k_max) if q[i] < 1.0]
            large = [i for i in range(k_max) if q[i] >= 1.0]
            while small and large:
                s, g = small.pop(), large.pop()
                prob[off + s], alias[off + s] = q[s], off + g
                q[g] -= 1.0 - q[s]
                (small if q[g] < 1.0 else large).append(g)
            for i in small + large:
                prob[off + i], alias[off + i] = 1.0, off + i
    return prob, alias, gene_of, k_max
