"""Learning from annotations: extend a partial annotation to every spot, suggest the spots
worth labelling next (active learning), and the plain label-propagation baseline."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import MissingKeyError, ScdlError
from ..models import Progress

logger = logging.getLogger(__name__)


def partial_labels(adata, labels: str | pd.Series) -> pd.Series:
    """Barcode-indexed partial labels aligned to ``adata.obs_names`` (NaN = unlabelled),
    from an ``obs`` column name or a barcode-indexed Series (unknown barcodes raise when
    none match and are logged otherwise)."""
    if isinstance(labels, str):
        if labels not in adata.obs:
            raise MissingKeyError(
                f"obs[{labels!r}] (the partial labels) is missing; available: "
                f"{list(adata.obs.columns)}"
            )
        s = adata.obs[labels]
    else:
        s = pd.Series(labels).dropna()
        s.index = s.index.astype(str)
        known = s.index.isin(adata.obs_names)
        if not known.any():
            raise ScdlError(
                f"none of the {len(s)} labelled barcodes (e.g. {list(s.index[:3])}) "
                "are spots of this sample"
            )
        if not known.all():
            logger.warning(
                "%d of %d labelled barcodes are not in this sample; they are ignored",
                int((~known).sum()),
                len(s),
            )
        s = s[known]
    out = s.astype("object").where(s.notna(), None).reindex(adata.obs_names)
    return out.map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )


def semisup_model(adata, labels: str | pd.Series, **params: Any):
    """An untrained ``semisup_gnn`` model reading ``labels`` (an obs column or a
    barcode-indexed Series); the GUI can keep it to inspect or save after training."""
    from ..models import get_model

    cls = get_model("semisup_gnn")
    if isinstance(labels, str):
        return cls(**(params | {"labels_key": labels}))
    return cls(**params).set_labels(partial_labels(adata, labels))


def propagate_iter(
    adata,
    labels: str | pd.Series,
    *,
    key_added: str = "predicted_label",
    seed: int = 0,
    device: str = "auto",
    model=None,
    **params: Any,
) -> Iterator[Progress]:
    """:func:`propagate` as a generator of progress (for the GUI); close it to cancel
    (``adata`` is then left untouched). The last item has ``metrics['done'] == 1`` and is
    yielded after every key is written. Pass ``model=semisup_model(...)`` to keep the
    trained model."""
    from ._run import run_model_iter

    model = model if model is not None else semisup_model(adata, labels, **params)
    for p in run_model_iter(adata, model, key_added=key_added, device=device, seed=seed):
        if p.metrics.get("done"):
            lab = np.flatnonzero(model.y >= 0).astype(np.int64)
            adata.uns[key_added]["labelled_index"] = lab
        yield p


def propagate(
    adata,
    labels: str | pd.Series,
    *,
    key_added: str = "predicted_label",
    seed: int = 0,
    device: str = "auto",
    **params: Any,
):
    """Label every spot from a partial annotation with the semi-supervised GNN
    (``semisup_gnn``, APPNP; Gasteiger et al. 2019, ICLR).

    Parameters
    ----------
    labels
        An ``obs`` column with some spots labelled (missing = unlabelled) or a
        barcode-indexed Series (e.g. from :func:`napari_scdl.annotations.read_csv_labels`).
    params
        Model parameters (``epochs``, ``k_hops``, ``n_ensemble`` ...; see
        ``napari_scdl.models.get_model("semisup_gnn").params``).

    Writes
    ------
    ``obs[key_added]`` (default ``predicted_label``), its confidence
    ``obs['predicted_confidence']`` (``{key_added}_confidence`` for other keys),
    ``obsm[f"{key_added}_proba"]`` and ``uns[key_added]`` (params, categories,
    ``labelled_index``). Returns the trained model.
    """
    model = semisup_model(adata, labels, **params)
    for _ in propagate_iter(
        adata, labels, key_added=key_added, seed=seed, device=device, model=model
    ):
        pass
    return model


def label_propagation(
    adata,
    labels: str | pd.Series,
    *,
    key_added: str | None = "label_propagation",
    alpha: float = 0.99,
    n_iter: int = 200,
    n_neighbors: int = 6,
) -> pd.Series:
    """Plain spatial label propagation over the neighbour graph (Zhou et al. 2004, NIPS,
    "Learning with local and global consistency"): the baseline for :func:`propagate`.

    ``F <- alpha S F + (1 - alpha) Y`` with ``S = D^-1/2 A D^-1/2``; labelled spots keep
    their label. Writes ``obs[key_added]`` and ``obs[f"{key_added}_confidence"]`` unless
    ``key_added`` is None; returns the labels.
    """
    from ..graph import build_graph

    lab = partial_labels(adata, labels)
    cats = sorted({v for v in lab if v is not None})
    if len(cats) < 1:
        raise ScdlError("label propagation needs at least one labelled spot")
    codes = pd.Categorical(lab, categories=cats).codes
    A = build_graph(adata, n_neighbors=n_neighbors)
    d = np.asarray(A.sum(1)).ravel()
    d[d == 0] = 1
    S = sp.diags(d**-0.5) @ A @ sp.diags(d**-0.5)
    Y = np.zeros((adata.n_obs, len(cats)), dtype=np.float64)
    Y[codes >= 0, codes[codes >= 0]] = 1
    F = Y.copy()
    for _ in range(n_iter):
        F = alpha * (S @ F) + (1 - alpha) * Y
    F[codes >= 0] = Y[codes >= 0]
    tot = F.sum(1)
    conf = np.where(tot > 0, F.max(1) / np.where(tot > 0, tot, 1), 0.0)
    pred = pd.Series(np.asarray(cats, dtype=object)[F.argmax(1)], index=adata.obs_names)
    pred[tot == 0] = None  # spots no label reaches (other tissue pieces)
    if key_added is not None:
        adata.obs[key_added] = pd.Categorical(pred, categories=cats)
        adata.obs[f"{key_added}_confidence"] = conf.astype(np.float32)
        logger.info("wrote obs['%s'], obs['%s_confidence']", key_added, key_added)
    return pred


def suggest_spots(
    adata,
    *,
    n: int = 10,
    key: str = "predicted_label",
    strategy: Literal["uncertainty", "diverse", "random"] = "diverse",
    seed: int = 0,
    exclude: np.ndarray | None = None,
) -> pd.DataFrame:
    """Spots whose labels would help the classifier most (active learning).

    ``uncertainty``: smallest margin between the two most likely categories (Settles 2009,
    margin sampling); ``diverse``: the most uncertain spot of each of ``n`` k-means groups
    of an uncertain pool in (position, class probabilities) space, so suggestions are spread
    over the slide's distinct regions; ``random``: a random sample (the control). Spots
    labelled in training (``uns[key]['labelled_index']``) and ``exclude`` are skipped.

    Returns a DataFrame indexed by barcode, in review order, with ``index`` (position in
    ``adata``), ``predicted``, ``confidence``, ``uncertainty``, ``x``, ``y``.
    """
    proba_key = f"{key}_proba"
    if proba_key not in adata.obsm:
        raise MissingKeyError(
            f"obsm[{proba_key!r}] is missing; run napari_scdl.tl.propagate("
            f"adata, labels, key_added={key!r}) first"
        )
    P = np.asarray(adata.obsm[proba_key], dtype=float)
    top2 = np.sort(P, axis=1)[:, -2:] if P.shape[1] > 1 else np.c_[np.zeros(len(P)), P]
    unc = 1.0 - (top2[:, 1] - top2[:, 0])
    ok = np.ones(adata.n_obs, dtype=bool)
    info = adata.uns.get(key, {})
    if "labelled_index" in info:
        ok[np.asarray(info["labelled_index"], dtype=int)] = False
    if exclude is not None:
        ok[np.asarray(exclude, dtype=int)] = False
    cand = np.flatnonzero(ok)
    n = int(min(n, len(cand)))
    rng = np.random.default_rng(seed)
    if n <= 0:
        chosen = np.array([], dtype=int)
    elif strategy == "random":
        chosen = rng.choice(cand, n, replace=False)
    elif strategy == "uncertainty":
        chosen = cand[np.argsort(-unc[cand], kind="stable")[:n]]
    elif strategy == "diverse":
        chosen = _diverse(adata, P, unc, cand, n, seed)
    else:
        raise ScdlError(f"strategy must be 'uncertainty', 'diverse' or 'random', not {strategy!r}")
    xy = (
        np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
        if "spatial" in adata.obsm
        else np.full((adata.n_obs, 2), np.nan)
    )
    pred = adata.obs[key].astype(str).to_numpy() if key in adata.obs else np.full(adata.n_obs, "")
    return pd.DataFrame(
        {
            "index": chosen,
            "predicted": pred[chosen],
            "confidence": P[chosen].max(1),
            "uncertainty": unc[chosen],
            "x": xy[chosen, 0],
            "y": xy[chosen, 1],
        },
        index=pd.Index(adata.obs_names[chosen], name="barcode"),
    )


def _diverse(adata, P, unc, cand, n, seed) -> np.ndarray:
    from sklearn.cluster import KMeans

    pool = cand[np.argsort(-unc[cand], kind="stable")[: max(5 * n, len(cand) // 10, n)]]
    feats = [P[pool]]
    if "spatial" in adata.obsm:
        xy = np.asarray(adata.obsm["spatial"], dtype=float)[pool, :2]
        feats.append((xy - xy.mean(0)) / (xy.std(0).max() or 1.0))
    Xf = np.hstack(feats)
    km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(Xf)
    chosen = []
    for c in range(n):
        members = pool[km.labels_ == c]
        if len(members):
            chosen.append(members[np.argmax(unc[members])])
    chosen = np.asarray(chosen, dtype=int)
    return chosen[np.argsort(-unc[chosen], kind="stable")]
