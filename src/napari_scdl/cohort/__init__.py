"""Cohorts: one domain model over several slides, run slide by slide on dask.distributed.

The Python entry point is :func:`napari_scdl.tl.cohort_domains`; the distributed runner
(:func:`run_cohort`, used by ``napari-scdl cohort``) lives in :mod:`._runner` and imports
dask only when called.
"""

from __future__ import annotations

from typing import Any


def run_cohort(*args: Any, **kwargs: Any):
    """See :func:`napari_scdl.cohort._runner.run_cohort` (lazy: imports dask on call)."""
    from ._runner import run_cohort as _run

    return _run(*args, **kwargs)


def run_cohort_iter(*args: Any, **kwargs: Any):
    """See :func:`napari_scdl.cohort._runner.run_cohort_iter` (lazy: imports dask on call)."""
    from ._runner import run_cohort_iter as _run

    return _run(*args, **kwargs)


def read_manifest(*args: Any, **kwargs: Any):
    """See :func:`napari_scdl.cohort._manifest.read_manifest`."""
    from ._manifest import read_manifest as _read

    return _read(*args, **kwargs)


__all__ = ["read_manifest", "run_cohort", "run_cohort_iter"]
