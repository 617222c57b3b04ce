"""Agreement between two labelings of the same spots: ARI, NMI and matched accuracy;
calibration of a per-spot confidence against an expert annotation.

Every function ignores spots where either labeling is missing (NaN, None, "" or "nan"),
so a ground truth that leaves some spots unannotated can be scored directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ScdlError

__all__ = [
    "ari",
    "nmi",
    "accuracy",
    "match_labels",
    "valid_mask",
    "majority_correct",
    "reliability_table",
    "expected_calibration_error",
]


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


def majority_correct(truth, labels) -> np.ndarray:
    """Per spot (labelled in both): whether the majority ``truth`` label of the spot's
    cluster in ``labels`` (the label most of that cluster's spots carry) is the spot's own
    ``truth`` label. NaN where either labeling is missing."""
    ok = valid_mask(truth, labels)
    x, y = _pair(truth, labels)
    table = pd.crosstab(pd.Series(y, name="cluster"), pd.Series(x, name="truth"))
    majority = table.idxmax(axis=1)
    out = np.full(len(ok), np.nan)
    out[ok] = (majority.reindex(y).to_numpy() == x).astype(float)
    return out


def reliability_table(confidence, correct, *, n_bins: int = 10) -> pd.DataFrame:
    """Spots binned by confidence into ``n_bins`` equal-width bins of [0, 1] (the last bin
    closed): per bin its ``lo``/``hi`` edges, ``n`` spots, ``confidence`` (mean) and
    ``accuracy`` (fraction correct; NaN in an empty bin). Spots with a NaN confidence or
    correctness are left out."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    corr = np.asarray(correct, dtype=np.float64).ravel()
    if conf.shape != corr.shape:
        raise ScdlError(f"confidence ({conf.size}) and correct ({corr.size}) differ in length")
    if n_bins < 1:
        raise ScdlError(f"n_bins must be >= 1, got {n_bins}")
    keep = np.isfinite(conf) & np.isfinite(corr)
    conf, corr = np.clip(conf[keep], 0.0, 1.0), corr[keep]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    n = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, conf, minlength=n_bins) / n
        acc = np.bincount(idx, corr, minlength=n_bins) / n
    return pd.DataFrame(
        {"lo": edges[:-1], "hi": edges[1:], "n": n, "confidence": mean_conf, "accuracy": acc}
    )


def expected_calibration_error(confidence, correct, *, n_bins: int = 10) -> float:
    """Expected calibration error (Naeini et al. 2015; Guo et al. 2017): the mean over
    ``n_bins`` equal-width confidence bins of |accuracy - mean confidence|, weighted by
    the share of spots in the bin. 0 is perfectly calibrated."""
    table = reliability_table(confidence, correct, n_bins=n_bins)
    full = table[table["n"] > 0]
    if full.empty:
        raise ScdlError("no spot has both a confidence and a correctness value")
    w = full["n"] / full["n"].sum()
    return float((w * (full["accuracy"] - full["confidence"]).abs()).sum())


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
