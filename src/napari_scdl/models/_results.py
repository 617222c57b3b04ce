"""The one result writer: where every model's output lands in the AnnData (scverse style)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def write_result(
    adata,
    key: str,
    *,
    labels: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    embedding: np.ndarray | None = None,
    imputed: np.ndarray | None = None,
    var_names: list[str] | None = None,
    info: dict[str, Any] | None = None,
) -> list[str]:
    """Write a model result into ``adata`` and return the keys written.

    Writes
    ------
    ``obs[key]``
        categorical labels (if given), categories ordered naturally ("1" < "2" < "10").
    ``obs[f"{key}_confidence"]``
        per-spot confidence in [0, 1].
    ``obsm[f"X_{key}"]``
        embedding (n_obs x d).
    ``layers[f"{key}_imputed"]``
        imputed expression for the model's genes (zero-filled for other genes).
    ``uns[key]``
        ``info``: params, model, seed, device, versions, history ...
    Re-running with the same key replaces the previous result.
    """
    written: list[str] = []
    n = adata.n_obs
    _drop_previous(adata, key)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape[0] != n:
            raise ValueError(f"labels have {labels.shape[0]} rows, adata has {n} spots")
        values = pd.Series(labels.astype(str), index=adata.obs_names)
        cats = sorted(values.unique(), key=_natural_key)
        adata.obs[key] = pd.Categorical(values, categories=cats)
        written.append(f"obs['{key}']")
    if confidence is not None:
        adata.obs[f"{key}_confidence"] = np.clip(np.asarray(confidence, dtype=np.float32), 0, 1)
        written.append(f"obs['{key}_confidence']")
    if embedding is not None:
        adata.obsm[f"X_{key}"] = np.asarray(embedding, dtype=np.float32)
        written.append(f"obsm['X_{key}']")
    if imputed is not None:
        imputed = np.asarray(imputed, dtype=np.float32)
        if var_names is not None and list(var_names) != list(adata.var_names):
            full = np.zeros((n, adata.n_vars), dtype=np.float32)
            idx = adata.var_names.get_indexer(var_names)
            ok = idx >= 0
            full[:, idx[ok]] = imputed[:, ok]
            imputed = full
        adata.layers[f"{key}_imputed"] = imputed
        written.append(f"layers['{key}_imputed']")
    adata.uns[key] = _plain(info or {})
    written.append(f"uns['{key}']")
    logger.info("wrote %s", ", ".join(written))
    return written


def _drop_previous(adata, key: str) -> None:
    """Remove what an earlier model result under ``key`` wrote, so a re-run replaces it whole
    (a re-run that does not cluster must not leave the old clusters behind). Only touched when
    ``uns[key]`` marks a model result: a user's own column of that name is left alone."""
    prev = adata.uns.get(key)
    if not (isinstance(prev, dict) and "model" in prev):
        return
    for col in (key, f"{key}_confidence"):
        if col in adata.obs:
            del adata.obs[col]
    adata.obsm.pop(f"X_{key}", None)
    if f"{key}_imputed" in adata.layers:
        del adata.layers[f"{key}_imputed"]


def _natural_key(s: str):
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def _plain(obj: Any) -> Any:
    """Make ``obj`` storable in ``.h5ad`` (no None, tuples, numpy scalars)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in obj):
            return np.asarray(obj, dtype=float)
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
