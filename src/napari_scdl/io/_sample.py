"""What every reader does last: one AnnData per sample in one layout."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._version import __version__


def sample_id(library_id: str, barcodes) -> str:
    """A stable id of a sample: same library and barcodes -> same id (for autosave)."""
    h = hashlib.sha1(str(library_id).encode())
    for b in barcodes:
        h.update(str(b).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def finish_sample(adata, *, library_id: str, source: str | Path, fullres_image=None):
    """Unique gene symbols, QC counts and ``uns['scdl']`` (library id, source, sample id)."""
    if not adata.var_names.is_unique:
        adata.var_names_make_unique()
    if not adata.obs_names.is_unique:
        adata.obs_names_make_unique()
    X = adata.X
    if sp.issparse(X) or isinstance(X, np.ndarray):
        adata.obs["total_counts"] = np.asarray(X.sum(1)).ravel().astype(np.float32)
        if sp.isspmatrix_csr(X) and X.has_canonical_format and (not X.nnz or X.data.min() > 0):
            n_genes = np.diff(X.indptr)  # every stored value is a detection
        else:
            n_genes = np.asarray((X > 0).sum(1)).ravel()
        adata.obs["n_genes"] = n_genes.astype(np.int32)
    adata.uns["scdl"] = {
        "library_id": str(library_id),
        "source": str(Path(source).resolve()),
        "sample_id": sample_id(library_id, adata.obs_names),
        "fullres_image": str(Path(fullres_image).resolve()) if fullres_image else "",
        "reader_version": __version__,
    }
    return adata
