"""Shared fixtures: real data location, tiny synthetic samples built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
# annotations autosave into a throw-away folder, never into the user's data dir
if "NAPARI_SCDL_DATA_DIR" not in os.environ:
    import tempfile

    os.environ["NAPARI_SCDL_DATA_DIR"] = tempfile.mkdtemp(prefix="scdl-tests-")

from tests_paths import DLPFC, SHARED  # noqa: E402


def pytest_collection_modifyitems(config, items):
    skip_real = pytest.mark.skip(reason=f"real data not found at {SHARED}")
    skip_gpu = pytest.mark.skip(reason="no CUDA device")
    has_cuda = None
    for item in items:
        if "realdata" in item.keywords and not DLPFC.exists():
            item.add_marker(skip_real)
        if "gpu" in item.keywords:
            if has_cuda is None:
                import torch

                has_cuda = torch.cuda.is_available()
            if not has_cuda:
                item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def dlpfc_path() -> Path:
    if not DLPFC.exists():
        pytest.skip(f"real data not found at {DLPFC}")
    return DLPFC


@pytest.fixture(scope="session")
def _dlpfc_adata(dlpfc_path):
    from napari_scdl.io import read

    return read(dlpfc_path)


@pytest.fixture
def dlpfc_adata(_dlpfc_adata):
    """The real 151673 slide (a fresh copy per test)."""
    return _dlpfc_adata.copy()


@pytest.fixture(scope="session")
def _small_adata():
    from napari_scdl.datasets import synthetic_visium

    return synthetic_visium(600, n_domains=4, n_genes=120, seed=0)


@pytest.fixture
def small_adata(_small_adata):
    """A 600-spot, 4-domain synthetic sample with an image (fresh copy per test)."""
    return _small_adata.copy()


@pytest.fixture
def visium_dir(tmp_path, _small_adata):
    """A Space Ranger 2.x-style folder (h5 counts, headered positions, hires + lowres)."""
    from visium_fixtures import write_visium_folder

    return write_visium_folder(_small_adata, tmp_path / "sample")


@pytest.fixture
def napari_app(make_napari_viewer):
    """napari's own test set-up (a fresh app-model, plugins registered once) for tests that
    make a viewer through our code (figures): without it, a viewer made after another
    test's viewers re-registers every plugin's actions ("Command ... already registered")."""
    return make_napari_viewer


@pytest.fixture(scope="module")
def slides():
    """Three synthetic slides with a planted slide effect (the cohort tests)."""
    from napari_scdl.cohort._synthetic import synthetic_cohort

    return synthetic_cohort(3, n_spots=300, n_genes=120, slide_effect=1.0, seed=0)
