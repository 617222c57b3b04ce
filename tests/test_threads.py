"""Thread counts of a model run: fixed by the sample's size (or $NAPARI_SCDL_THREADS),
never by the load, and put back afterwards."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from napari_scdl._settings import (
    BLAS_ONE_THREAD_SPOTS,
    blas_threads,
    n_blas_threads,
    n_torch_threads,
)


def _blas() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_rule(monkeypatch):
    monkeypatch.delenv("NAPARI_SCDL_THREADS", raising=False)
    assert n_blas_threads(300) == 1
    assert n_blas_threads(BLAS_ONE_THREAD_SPOTS - 1) == 1
    assert n_blas_threads(BLAS_ONE_THREAD_SPOTS) is None  # the library's own count
    monkeypatch.setenv("NAPARI_SCDL_THREADS", "3")
    assert n_blas_threads(300) == 3 and n_torch_threads(300) == 3


def test_blas_threads_block_sets_and_restores(monkeypatch):
    monkeypatch.delenv("NAPARI_SCDL_THREADS", raising=False)
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    before = _blas()
    with blas_threads(300) as n:
        assert n == 1 and set(_blas()) == {1}
    assert _blas() == before
    with blas_threads(BLAS_ONE_THREAD_SPOTS) as n:
        assert n is None and _blas() == before


def test_a_model_run_uses_one_blas_thread_on_a_small_slide(monkeypatch):
    from napari_scdl import datasets
    from napari_scdl.models import get_model

    monkeypatch.delenv("NAPARI_SCDL_THREADS", raising=False)
    adata = datasets.synthetic_visium(300, n_domains=3, seed=0, image=False)
    before = _blas()
    model = get_model("domain_gcn")(n_domains=3, epochs=3, n_networks=1)
    seen = []
    for _ in model.fit_iter(adata, device="cpu"):
        seen.append(set(_blas()))
    assert seen and all(s == {1} for s in seen)
    assert model.n_blas_threads == 1
    assert _blas() == before


def test_the_limit_covers_scipys_own_blas_in_a_fresh_process():
    """scipy's wheels carry an OpenBLAS of their own beside numpy's; a run that enters the
    limit before anything imported scipy.linalg must still put it on one thread (it runs
    the mixture's Cholesky and triangular solves)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from napari_scdl._settings import blas_threads\n"
        "with blas_threads(300):\n"
        "    import scipy.linalg, sklearn.mixture\n"
        "    print(json.dumps([i['num_threads'] for i in threadpool_info()"
        " if i['user_api'] == 'blas']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NAPARI_SCDL_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts and set(counts) == {1}
