"""``domain_gcn`` on the real DLPFC slide 151673: accuracy against the expert layers."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

#: measured ARI of seed 0 (see docs/domains.md) minus a margin for platform differences
MIN_ARI = 0.52


@pytest.mark.realdata
@pytest.mark.slow
def test_dlpfc_domains(dlpfc_adata, dlpfc_path):
    from napari_scdl.tl import domains

    t0 = time.perf_counter()
    domains(dlpfc_adata, n_domains=7, seed=0, device="cpu")
    wall = time.perf_counter() - t0
    truth = pd.read_csv(dlpfc_path / "ground_truth.tsv", sep="\t", index_col=0).iloc[:, 0]
    truth = truth.reindex(dlpfc_adata.obs_names)
    ok = truth.notna().to_numpy()
    ari = adjusted_rand_score(truth[ok], dlpfc_adata.obs["domain"][ok])
    assert ari >= MIN_ARI, f"ARI {ari:.3f} on 151673"
    assert dlpfc_adata.obs["domain"].nunique() == 7
    assert wall < 120, f"{wall:.0f} s"
