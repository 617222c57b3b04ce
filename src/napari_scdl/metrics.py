"""Agreement between two labelings of the same spots: ARI, NMI and matched accuracy.

Every function ignores spots where either labeling is missing (NaN, None, "" or "nan"),
so a ground truth that leaves some spots unannotated can be scored directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ScdlError

__all__ = ["ari", "nmi", "accuracy", "match_labels", "valid_mask"]


def valid_mask(a, b) -> np.ndarray:
    """Boolean mask of the spots where both labelings have a value."""
    a, b = _series(a), _series(b)
    if len(a) != len(b):
        raise ScdlError(f"the labelings have different lengths ({len(a)} and {len(b)})")
    return (_present(a) & _present(b)).to_numpy()


def ari(a, b) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) over the spots labelled in both."""
    from sklearn.metrics import adjusted_rand_score

    x, y = _pair(a, b)
    return float(adjusted_rand_score(x, y))


def nmi(a, b) -> float:
    """Normalised mutual information (arithmetic mean normalisation) over the spots
    labelled in both."""
    from sklearn.metrics import normalized_mutual_info_score

    x, y = _pair(a, b)
    return float(normalized_mutual_info_score(x, y))


def match_labels(a, b) -> dict[str, str]:
    """The one-to-one mapping of ``b``'s labels to ``a``'s labels that maximises the
    number of agreeing spots (Hungarian algorithm on the contingency table). Labels of
    ``b`` left without a partner (when ``b`` has more clusters) are not in the mapping."""
    from scipy.optimize import linear_sum_assignment

    x, y = _pair(a, b)
    table = pd.crosstab(pd.Series(y, name="b"), pd.Series(x, name="a"))
    rows, cols = linear_sum_assignment(-table.to_numpy())
    return {str(table.index[r]): str(table.columns[c]) for r, c in zip(rows, cols, strict=True)}


def accuracy(a, b) -> float:
    """Fraction of the spots labelled in both where ``b``'s label, after the optimal
    one-to-one matching of labels (:func:`match_labels`), equals ``a``'s."""
    x, y = _pair(a, b)
    mapping = match_labels(x, y)
    mapped = np.array([mapping.get(v, None) for v in y], dtype=object)
    return float(np.mean(mapped == x))


# -- helpers ------------------------------------------------------------------------------
def _series(a) -> pd.Series:
    if isinstance(a, pd.Series):
        return a.reset_index(drop=True)
    arr = np.asarray(a, dtype=object)
    if arr.ndim != 1:
        raise ScdlError(f"labels must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr)


def _present(s: pd.Series) -> pd.Series:
    text = s.astype(str).str.strip().str.lower()
    return s.notna() & ~text.isin(["", "nan", "none", "<na>"])


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Both labelings as string arrays restricted to the spots labelled in both."""
    ok = valid_mask(a, b)
    if not ok.any():
        raise ScdlError("no spot is labelled in both labelings")
    return (
        _series(a)[ok].astype(str).to_numpy(),
        _series(b)[ok].astype(str).to_numpy(),
    )
