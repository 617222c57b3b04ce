"""What the screenshot scripts share: paths, the sample (real DLPFC slide when present,
else the synthetic one) with its expert layers, and waiting on an idle Qt event loop (a
busy processEvents() loop would take a core from the worker thread being waited on)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DLPFC = REPO.parent / "shared" / "data" / "dlpfc151673"
IMAGES = REPO / "docs" / "images"


def sample_with_truth(real: bool = True):
    """``(adata, truth)``: DLPFC 151673 and its expert layers (when ``real`` and the data
    is present), else the 2,000-spot synthetic sample and its known domains. ``truth``
    is a string Series indexed like ``adata.obs`` (NaN where not annotated)."""
    if real and DLPFC.exists():
        from napari_scdl.io import read

        adata = read(DLPFC)
        truth = pd.read_csv(DLPFC / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
        return adata, truth.reindex(adata.obs_names)
    from napari_scdl.datasets import synthetic_visium

    adata = synthetic_visium(2000, n_domains=5, seed=0)
    return adata, adata.obs["truth"].astype(str)


def wait_until(cond, timeout: float = 1800.0) -> None:
    """Process Qt events until ``cond()`` holds, sleeping between rounds."""
    from qtpy.QtWidgets import QApplication

    t0 = time.time()
    while not cond():
        QApplication.processEvents()
        time.sleep(0.05)
        if time.time() - t0 > timeout:
            raise TimeoutError("the widget did not finish in time")


def settle(n: int = 20) -> None:
    """Let pending redraws happen before a screenshot."""
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()
        time.sleep(0.02)
