"""AnnData ``.h5ad`` files in the scanpy/squidpy ``uns['spatial']`` convention."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from ._sample import finish_sample

logger = logging.getLogger(__name__)


def read_h5ad(path: str | Path, *, library_id: str | None = None, fullres_image=None):
    """Read an ``.h5ad`` with spot coordinates in ``obsm['spatial']``.

    Images and scale factors are taken from ``uns['spatial'][library_id]`` when present
    (the first library unless ``library_id`` is given); a file with only
    ``obsm['spatial']`` opens without an image.
    """
    import anndata as ad

    path = Path(path).expanduser()
    if not path.exists():
        raise DataFormatError(f"{path} not found")
    try:
        adata = ad.read_h5ad(path)
    except Exception as err:  # noqa: BLE001 - h5py/anndata raise many kinds
        raise DataFormatError(f"cannot read {path} as an AnnData .h5ad file ({err})") from err
    problems = []
    if "spatial" not in adata.obsm:
        problems.append("it has no obsm['spatial'] (spot x, y coordinates)")
    else:
        xy = np.asarray(adata.obsm["spatial"], dtype=float)
        if xy.ndim != 2 or xy.shape[1] < 2:
            problems.append(f"obsm['spatial'] has shape {xy.shape}; expected (n_spots, 2)")
        elif not np.isfinite(xy[:, :2]).all():
            bad = ~np.isfinite(xy[:, :2]).all(1)
            problems.append(
                f"{bad.sum()} spots have NaN coordinates in obsm['spatial'] "
                f"(e.g. {', '.join(adata.obs_names[bad][:3])})"
            )
        else:
            adata.obsm["spatial"] = xy[:, :2].astype(np.float64)
    if adata.n_obs == 0:
        problems.append("it has no spots")
    libraries = list(adata.uns.get("spatial", {}) or {})
    if library_id is not None and library_id not in libraries:
        problems.append(f"library {library_id!r} not in uns['spatial'] (has {libraries})")
    if problems:
        raise DataFormatError(f"cannot open {path}: " + "; ".join(problems))
    if library_id is None:
        library_id = libraries[0] if libraries else path.stem
        if len(libraries) > 1:
            logger.warning("%s holds libraries %s; showing %s", path, libraries, library_id)
    if "scdl" in adata.uns and adata.uns["scdl"].get("sample_id"):
        adata.uns["scdl"]["source"] = str(path.resolve())  # keep sample id across re-saves
        return adata
    return finish_sample(adata, library_id=library_id, source=path, fullres_image=fullres_image)
