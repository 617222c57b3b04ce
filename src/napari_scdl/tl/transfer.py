"""Transfer from a reference: labels or label proportions of a single-cell atlas or an
annotated slide carried to a new sample, the rare-population view, and plain baselines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import MissingKeyError, ScdlError
from ..models import Progress

logger = logging.getLogger(__name__)


def transfer_model(reference, *, labels_key: str, mode: str = "labels", **params: Any):
    """An untrained ``transfer`` model for ``reference`` (a path or an AnnData)."""
    from ..models import get_model

    cls = get_model("transfer")
    if isinstance(reference, (str, Path)):
        return cls(reference=str(reference), labels_key=labels_key, mode=mode, **params)
    return cls(labels_key=labels_key, mode=mode, **params).set_reference(reference)


def transfer_iter(
    adata,
    reference,
    *,
    labels_key: str,
    mode: Literal["labels", "proportions"] = "labels",
    key_added: str = "transferred_label",
    seed: int = 0,
    device: str = "auto",
    model=None,
    **params: Any,
) -> Iterator[Progress]:
    """:func:`transfer` yielding progress (close the generator to cancel; ``adata`` is then
    untouched). ``model``: an untrained model from :func:`transfer_model` to train instead."""
    from ._run import run_model_iter as _run  # the path every model takes

    model = model or transfer_model(reference, labels_key=labels_key, mode=mode, **params)
    yield from _run(adata, model, key_added=key_added, seed=seed, device=device)


def transfer(
    adata,
    reference,
    *,
    labels_key: str,
    mode: Literal["labels", "proportions"] = "labels",
    key_added: str = "transferred_label",
    seed: int = 0,
    device: str = "auto",
    **params: Any,
):
    """Carry the labels of ``reference`` to the spots of ``adata`` (model ``transfer``).

    Parameters
    ----------
    reference
        An AnnData or a path (.h5ad or any sample napari-scdl reads) with labels in
        ``obs[labels_key]``; a single-cell atlas or an annotated slide.
    mode
        ``labels``: one label per spot with calibrated confidence; ``proportions``: the
        share of each label in every (multi-cell) spot.
    params
        Other ``transfer`` model parameters (``epochs``, ``smooth``, ``n_null`` ...).

    Writes
    ------
    ``obs[key_added]``, ``obs[f"{key_added}_confidence"]``, ``obsm[f"{key_added}_proba"]``
    (labels) or ``obsm[f"{key_added}_proportions"]`` (proportions), ``obsm[f"{key_added}_pvalue"]``
    and ``obsm[f"{key_added}_fdr"]`` (with ``n_null`` > 0), ``obsm[f"X_{key_added}"]``,
    ``uns[key_added]``. Returns the trained model (``save`` it; ``transform`` applies it to
    further samples).
    """
    model = transfer_model(reference, labels_key=labels_key, mode=mode, **params)
    for _ in transfer_iter(adata, reference, labels_key=labels_key, key_added=key_added,
                           seed=seed, device=device, model=model):
        pass
    return model


def label_table(adata, key: str = "transferred_label") -> pd.DataFrame:
    """The per-label table a transfer wrote (proportions, else probabilities)."""
    for suffix in ("proportions", "proba"):
        if f"{key}_{suffix}" in adata.obsm:
            t = adata.obsm[f"{key}_{suffix}"]
            if not isinstance(t, pd.DataFrame):
                cats = list(adata.uns.get(key, {}).get("categories", range(t.shape[1])))
                t = pd.DataFrame(np.asarray(t), index=adata.obs_names, columns=cats)
            return t
    raise MissingKeyError(f"no transfer result under {key!r}; run napari_scdl.tl.transfer first")


def rare_spots(adata, label: str, *, key: str = "transferred_label", fdr: float = 0.05) -> pd.Series:
    """Spots where ``label``'s share exceeds the shuffled-label null at this FDR (a
    barcode-indexed boolean Series). Needs a transfer run with ``n_null`` > 0."""
    if f"{key}_fdr" not in adata.obsm:
        raise MissingKeyError(
            f"obsm[{key + '_fdr'!r}] is missing; run napari_scdl.tl.transfer with n_null >= 1")
    table = adata.obsm[f"{key}_fdr"]
    if label not in table.columns:
        raise ScdlError(f"{label!r} is not a reference label; labels: {list(table.columns)}")
    return pd.Series(table[label].to_numpy() <= fdr, index=adata.obs_names, name=label)


# -- baselines ----------------------------------------------------------------------------
def _shared(reference, adata, labels_key: str):
    from ..models.transfer import match_genes
    from ..preprocessing import expression_input

    if labels_key not in reference.obs:
        raise MissingKeyError(f"the reference has no obs[{labels_key!r}]")
    keep = reference.obs[labels_key].notna().to_numpy()
    reference = reference[keep]
    ri, qi, _ = match_genes(list(reference.var_names), list(adata.var_names))
    R = expression_input(reference).X[:, ri]
    Q = expression_input(adata).X[:, qi]
    return R, Q, reference.obs[labels_key].astype(str).to_numpy()


def logreg_baseline(adata, reference, *, labels_key: str, n_pcs: int = 50, seed: int = 0):
    """Plain baseline: logistic regression on a PCA of the shared genes (genes standardised
    per data set, PCA fitted on the reference). Returns ``(labels, probabilities, classes)``."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from ..models.transfer import standardised

    R, Q, y = _shared(reference, adata, labels_key)
    Rs, Qs = standardised(R), standardised(Q)
    pca = PCA(n_components=min(n_pcs, *Rs.shape) - 1, random_state=seed).fit(Rs)
    clf = LogisticRegression(max_iter=2000).fit(pca.transform(Rs), y)
    proba = clf.predict_proba(pca.transform(Qs))
    return clf.classes_[proba.argmax(1)], proba, list(clf.classes_)


def nnls_baseline(adata, reference, *, labels_key: str) -> pd.DataFrame:
    """Plain deconvolution baseline: non-negative least squares of each spot's normalised
    expression on the reference's mean profile per label; rows sum to 1."""
    import scipy.sparse as sp
    from scipy.optimize import nnls

    R, Q, y = _shared(reference, adata, labels_key)
    cats = np.unique(y)
    norm = lambda X: sp.diags(1e4 / np.maximum(np.asarray(X.sum(1)).ravel(), 1)) @ X  # noqa: E731
    Rn, Qn = norm(sp.csr_matrix(R)), norm(sp.csr_matrix(Q))
    sig = np.vstack([np.asarray(Rn[y == c].mean(0)).ravel() for c in cats]).T  # genes x labels
    Qd = Qn.toarray()
    W = np.vstack([nnls(sig, q)[0] for q in Qd])
    W /= np.maximum(W.sum(1, keepdims=True), 1e-12)
    return pd.DataFrame(W, index=adata.obs_names, columns=list(cats))
