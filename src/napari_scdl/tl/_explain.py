"""Explain a category: its differentially expressed genes and the genes a classifier needs
to recognise it (permutation importance, as in DeepGeneX)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..errors import ScdlError

logger = logging.getLogger(__name__)


def explain_category(
    adata,
    labels_key: str,
    category: str,
    *,
    n_genes: int = 20,
    n_top_genes: int = 2000,
    seed: int = 0,
    epochs: int = 200,
) -> pd.DataFrame:
    """Genes that distinguish ``category`` of ``obs[labels_key]`` from the other spots.

    Two views, side by side: differential expression (``napari_scdl.tl.markers``,
    Wilcoxon versus the rest of the labelled spots) and the permutation importance of each
    gene for a small neural-network classifier trained on the labelled spots (the drop in
    the mean probability of ``category`` on its spots when that gene is shuffled across
    spots; Breiman 2001; DeepGeneX, Kamal et al. 2023). Spots with a missing label are
    left out of both. Writes nothing except what ``tl.markers`` stores under
    ``uns[f"{labels_key}_markers"]``.

    Returns
    -------
    DataFrame indexed by gene, the union of the ``n_genes`` best of each view, with
    ``log2fc``, ``score`` and ``pval_adj`` (DE), ``importance``, ``de_rank``,
    ``importance_rank`` and ``found_by`` (``"both"``, ``"DE"`` or ``"classifier"``).
    """
    from .markers import markers

    if labels_key not in adata.obs:
        raise ScdlError(f"obs[{labels_key!r}] is missing; available: {list(adata.obs.columns)}")
    labels = adata.obs[labels_key].astype("object")
    if not (labels.astype(str) == str(category)).any():
        raise ScdlError(f"no spot of obs[{labels_key!r}] is labelled {category!r}")
    de = markers(adata, labels_key, groups=[str(category)], key_added=f"{labels_key}_markers")
    de = de[de["group"].astype(str) == str(category)].set_index("gene")
    de["de_rank"] = np.arange(1, len(de) + 1)
    imp = permutation_importance(
        adata, labels_key, str(category), n_top_genes=n_top_genes, seed=seed, epochs=epochs
    )
    top = list(dict.fromkeys(list(de.index[:n_genes]) + list(imp.index[:n_genes])))
    out = pd.DataFrame(index=pd.Index(top, name="gene"))
    out = out.join(de[["log2fc", "score", "pval_adj", "de_rank"]]).join(imp)
    in_de = out.index.isin(de.index[:n_genes])
    in_imp = out.index.isin(imp.index[:n_genes])
    out["found_by"] = np.where(in_de & in_imp, "both", np.where(in_de, "DE", "classifier"))
    return out.sort_values(
        ["found_by", "de_rank"],
        key=lambda s: s.map({"both": 0, "DE": 1, "classifier": 2}) if s.name == "found_by" else s,
    )


def permutation_importance(
    adata,
    labels_key: str,
    category: str,
    *,
    n_top_genes: int = 2000,
    n_hidden: int = 64,
    epochs: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Importance of each highly variable gene for recognising ``category``.

    An MLP (one hidden layer) on log-normalised expression is trained on the labelled
    spots; each gene is then shuffled across those spots and the drop of the mean
    predicted probability of ``category`` on its spots is recorded. The first layer being
    linear, each shuffle is a rank-one update, so all genes cost about one forward pass
    each. Returns a DataFrame indexed by gene with ``importance`` and ``importance_rank``.
    """
    import torch
    from torch import nn

    from .. import preprocessing as pp
    from ..models._optim import Adam

    labels = adata.obs[labels_key].astype("object")
    lab = labels.notna().to_numpy()
    cats = sorted({str(v) for v in labels[lab]})
    if len(cats) < 2:
        raise ScdlError(
            f"obs[{labels_key!r}] needs at least 2 labelled categories to train a "
            f"classifier, found {cats}"
        )
    hv = pp.select_hvg(adata, n_top_genes)
    genes = adata.var_names[hv]
    X = pp.log_normalize(pp.counts_matrix(adata)[:, hv])[lab].toarray()
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1
    X = ((X - mu) / sd).astype(np.float32)
    y = pd.Categorical(labels[lab].astype(str), categories=cats).codes.astype(np.int64)
    c = cats.index(str(category))
    torch.manual_seed(int(seed))
    net = nn.Sequential(
        nn.Dropout(0.2),
        nn.Linear(X.shape[1], n_hidden),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(n_hidden, len(cats)),
    )
    opt = Adam(net.parameters(), lr=1e-3, weight_decay=1e-3)  # torch.optim's, bit for bit
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    net.eval()
    lin1, head = net[1], net[4]
    rows = np.flatnonzero(y == c)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        pre = lin1(xt)  # (n, hidden)
        base = head(torch.relu(pre[rows])).softmax(1)[:, c].mean().item()
        W = lin1.weight.T  # (genes, hidden)
        drops = np.empty(X.shape[1], dtype=np.float32)
        for g in range(X.shape[1]):
            perm = xt[rng.permutation(len(X))[rows], g]
            delta = (perm - xt[rows, g])[:, None] * W[g][None, :]
            drops[g] = base - head(torch.relu(pre[rows] + delta)).softmax(1)[:, c].mean().item()
    out = pd.DataFrame({"importance": drops}, index=pd.Index(genes, name="gene"))
    out = out.sort_values("importance", ascending=False)
    out["importance_rank"] = np.arange(1, len(out) + 1)
    logger.info(
        "permutation importance of %d genes for %s=%s (base p=%.3f)",
        len(out),
        labels_key,
        category,
        base,
    )
    return out
