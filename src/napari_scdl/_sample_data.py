"""npe2 sample-data contribution: the synthetic Visium tissue."""

from __future__ import annotations


def synthetic_tissue():
    """Synthetic Visium tissue: 2,000 spots, 5 layered domains, an H&E-like image."""
    from .datasets import synthetic_visium
    from .layers import adata_to_layers

    return adata_to_layers(synthetic_visium(2000, n_domains=5, seed=0))
