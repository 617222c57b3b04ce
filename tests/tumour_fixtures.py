"""A synthetic tumour with planted subclones and outlier noise (tests and benchmarks of the
``subclones`` model, issue 17).

A :func:`napari_scdl.datasets.synthetic_visium` section whose middle layer is the tumour
(``obs['annotation'] == 'tumour'``, the rest ``'normal'``). Genes lie on ten chromosomes
(``var['chromosome']``, ``var['start']``). The tumour is split into ``n_subclones``
spatial patches (``obs['clone_truth']``); each subclone carries its own copy-number events
(blocks of neighbouring genes with expression doubled or halved). ``outlier_rate`` of the
tumour's spot x gene entries are replaced by large spikes (dropouts of the capture,
ambient or doublet contamination), the outliers a robust autoencoder is meant to absorb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def synthetic_tumour(n_spots: int = 600, *, n_genes: int = 400, n_subclones: int = 3,
                     outlier_rate: float = 0.05, spike: float = 30.0, seed: int = 0):
    from napari_scdl.datasets import synthetic_visium

    rng = np.random.default_rng(seed + 1000)
    a = synthetic_visium(n_spots, n_domains=3, n_genes=n_genes, seed=seed, image=False)
    tumour = np.asarray(a.obs["truth"] == "Layer2")
    a.obs["annotation"] = pd.Categorical(np.where(tumour, "tumour", "normal"))
    # genes on 10 chromosomes in a random genomic order (markers spread over the genome)
    order = rng.permutation(n_genes)
    chrom = np.empty(n_genes, dtype=object)
    start = np.empty(n_genes, dtype=np.int64)
    per = int(np.ceil(n_genes / 10))
    for rank, g in enumerate(order):
        chrom[g] = f"chr{rank // per + 1}"
        start[g] = (rank % per) * 100_000 + 1
    a.var["chromosome"], a.var["start"] = chrom, start
    # subclones: patches of the tumour along x; each has 3 events on blocks of 10% of genes
    x = np.asarray(a.obsm["spatial"])[:, 0]
    qs = np.quantile(x[tumour], np.linspace(0, 1, n_subclones + 1)[1:-1])
    clone = np.digitize(x, qs)
    factor = np.ones((n_subclones, n_genes))
    block = max(5, n_genes // 10)
    for c in range(n_subclones):
        for _ in range(3):
            lo = rng.integers(0, n_genes - block)
            factor[c, order[lo:lo + block]] = rng.choice([0.4, 2.5])
    X = np.asarray(a.X.toarray(), dtype=np.float64)
    rows = np.flatnonzero(tumour)
    X[rows] = rng.poisson(X[rows] * factor[clone[rows]])
    hit = rng.random((len(rows), n_genes)) < outlier_rate
    mean = X[rows].mean(0) + 1.0
    spikes = rng.poisson(np.broadcast_to(mean * spike, hit.shape))
    X[rows] = np.where(hit, spikes, X[rows])
    a.X = sp.csr_matrix(X.astype(np.float32))
    labels = np.where(tumour, np.asarray([f"clone{c + 1}" for c in clone], dtype=object), None)
    a.obs["clone_truth"] = pd.Categorical(labels)
    return a
