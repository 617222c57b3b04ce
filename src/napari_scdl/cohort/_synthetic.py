"""Synthetic cohorts: slides of :func:`napari_scdl.datasets.synthetic_visium` with a planted
slide effect (each gene's expression scaled by a slide-specific factor), for tests,
benchmarks and demos."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def synthetic_cohort(
    n_slides: int = 3,
    *,
    n_spots: int = 600,
    n_genes: int = 200,
    n_domains: int = 5,
    slide_effect: float = 1.0,
    seed: int = 0,
    image: bool = False,
) -> dict[str, object]:
    """``{sample_id: AnnData}``: slide ``i`` is ``synthetic_visium(seed=seed + i + 1)`` with
    every gene's mean multiplied by ``exp(N(0, slide_effect))`` (a slide-specific factor per
    gene, then Poisson counts). ``obs['truth']`` holds the layers (same names on every slide)."""
    from ..datasets import synthetic_visium

    out = {}
    for i in range(n_slides):
        sid = f"slide{i + 1}"
        s = seed + i + 1
        a = synthetic_visium(n_spots, n_genes=n_genes, n_domains=n_domains, seed=s,
                             image=image, library_id=sid)
        rng = np.random.default_rng([s, 7919])
        factor = np.exp(rng.normal(0.0, slide_effect, a.n_vars)).astype(np.float32)
        a.X = sp.csr_matrix(rng.poisson(a.X.toarray() * factor).astype(np.float32))
        out[sid] = a
    return out
