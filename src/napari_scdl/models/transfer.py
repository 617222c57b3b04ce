"""``transfer``: carry the labels of a reference (a single-cell atlas or an annotated slide)
to the spots of a new sample, as labels or as label proportions (AnnData glue; the network
is :class:`~.nn._transfer.TransferNet`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ModelSetupError
from . import register_model
from ._base import BaseModel, Param, Progress
from ._train import TrainingPlan

logger = logging.getLogger(__name__)

MIN_SHARED_GENES = 10


@register_model
class LabelTransfer(BaseModel):
    """Transfer reference labels to the spots of a query sample.

    A domain-adversarial network (Ganin et al. 2016, JMLR; for spots as in CellDART, Bae et
    al. 2022, NAR): on the genes reference and query share (case-insensitive symbols when
    few names match exactly), ranked by how well they separate the reference labels, each
    data set log-normalised and standardised on its own; a shared encoder, a classifier
    trained on the reference and a discriminator behind gradient reversal that keeps
    reference and query embeddings indistinguishable. ``mode='labels'`` trains on reference
    cells; ``mode='proportions'`` trains on pseudo-spots, sums of 2..``max_cells`` random
    reference cells with their label proportions as targets (for multi-cell spots).
    Probabilities are calibrated by temperature scaling on held-out reference cells and,
    when the query has coordinates, averaged with the spot's neighbours (``smooth``).
    ``n_null`` networks trained on reference labels shuffled give a null for every label:
    a per-spot p-value that the label's share exceeds it, with Benjamini-Hochberg FDR.

    Writes
    ------
    ``obs['{key}']``, ``obs['{key}_confidence']``
        most likely (dominant) label and its calibrated probability (share).
    ``obsm['{key}_proba']`` (labels) or ``obsm['{key}_proportions']`` (proportions)
        DataFrame, one column per reference label, rows sum to 1.
    ``obsm['{key}_pvalue']``, ``obsm['{key}_fdr']``
        per spot and label, against the shuffled-label null (when ``n_null`` > 0).
    ``obsm['X_{key}']``
        the shared embedding of the query spots.
    ``uns['{key}']``
        params, categories, genes used, temperature, reference size, history.
    """

    name = "transfer"
    description = "Transfer labels (or proportions) from a reference atlas or annotated slide"
    citation = "Ganin et al. (2016) JMLR (DANN); Bae et al. (2022) NAR (CellDART)"
    default_key = "transferred_label"
    spatial = False
    params = (
        Param("reference", "", "reference file (.h5ad or any readable sample) with labels"),
        Param("labels_key", "cell_type", "obs column of the reference with the labels"),
        Param("mode", "labels", "labels: one label per spot; proportions: share of each label",
              choices=("labels", "proportions")),
        Param("gene_scaling", "sample", "centre and scale genes on each data set itself "
              "(sample: removes platform shifts) or on the reference (keeps composition)",
              choices=("sample", "reference")),
        Param("n_top_genes", 2000, "shared genes that best separate the labels (0 = all)", min=0),
        Param("n_hidden", 256, "hidden units of the encoder", min=8, max=4096),
        Param("n_latent", 64, "size of the shared embedding", min=2, max=512),
        Param("dropout", 0.2, "dropout rate", min=0.0, max=0.9),
        Param("epochs", 30, "passes over the reference", min=1, max=1000),
        Param("batch_size", 256, "reference rows per step (as many query spots)", min=8),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
        Param("weight_decay", 1e-5, "L2 penalty on the weights", min=0.0, max=1.0),
        Param("adv_weight", 0.3, "weight of the reference/query alignment (0 = none)",
              min=0.0, max=10.0),
        Param("smooth", 0.3, "share of the neighbours' mean in each spot's result (0 = none)",
              min=0.0, max=1.0),
        Param("n_neighbors", 6, "spatial neighbours per spot for smoothing", min=2, max=60),
        Param("n_pseudo", 4000, "pseudo-spots made from the reference (proportions)", min=100),
        Param("max_cells", 8, "most reference cells mixed into one pseudo-spot", min=2, max=50),
        Param("n_null", 1, "networks on shuffled labels for the rare-population p-values",
              min=0, max=20),
        Param("calibration_fraction", 0.1, "reference rows held out to calibrate",
              min=0.0, max=0.5, gui=False),
    )
    writes = (
        "obs['{key}']", "obs['{key}_confidence']", "obsm['{key}_proba' | '{key}_proportions']",
        "obsm['{key}_pvalue']", "obsm['{key}_fdr']", "obsm['X_{key}']", "uns['{key}']",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._reference = None
        self.categories: list[str] = []
        self.temperature = 1.0
        self.proba: np.ndarray | None = None
        self.pvalues: np.ndarray | None = None
        self.reference_info: dict[str, Any] = {}
        self._transferred = False
        self._applying = False

    def set_reference(self, reference) -> LabelTransfer:
        """Use this in-memory AnnData as the reference instead of the ``reference`` path."""
        self._reference = reference
        return self

    # -- setup --------------------------------------------------------------------------
    def _load_reference(self, problems: list[str]):
        from ..errors import DataFormatError
        from ..io import read

        if self._reference is not None:
            return self._reference
        path = self.hparams["reference"]
        if not path:
            problems.append("no reference given; set reference to an annotated .h5ad file "
                            "(a single-cell atlas or a labelled slide)")
            return None
        try:
            return read(path)
        except DataFormatError as err:
            problems.append(f"the reference {path} cannot be read ({err})")
            return None

    def setup(self, adata) -> None:
        if self._applying:  # applying a trained model: only the query is prepared
            stats = self.scale_stats if self.hparams["gene_scaling"] == "reference" else None
            self.x_query = query_matrix(adata, self.var_names, stats)
            self._graph(adata)
            return
        problems: list[str] = []
        ref = self._load_reference(problems)
        key = self.hparams["labels_key"]
        if ref is not None and key not in ref.obs:
            problems.append(f"the reference has no obs[{key!r}]; set labels_key to one of "
                            f"{list(ref.obs.columns)}")
        if problems:
            raise ModelSetupError(f"{self.name}: " + "; ".join(problems))
        lab = ref.obs[key]
        keep = lab.notna().to_numpy() & (lab.astype(str) != "").to_numpy()
        ref = ref[keep]
        labels = ref.obs[key].astype(str).to_numpy()
        cats, counts = np.unique(labels, return_counts=True)
        if len(cats) < 2:
            raise ModelSetupError(f"{self.name}: obs[{key!r}] of the reference needs at least "
                                  f"2 labels, found {list(cats)}")
        for c, n in zip(cats, counts, strict=True):
            if n < 5:
                self.warn(f"reference label {c!r} has only {n} cells: its transfer is unreliable")
        self.categories = [str(c) for c in cats]
        self.y = np.searchsorted(cats, labels)
        self._prepare(ref, adata)
        self._graph(adata)
        self.reference_info = {"n_obs": int(ref.n_obs), "n_vars": int(ref.n_vars),
                               "source": self.hparams["reference"] or "in-memory AnnData",
                               "labels_key": key, "counts": dict(zip(self.categories,
                                                                     map(int, counts), strict=True))}

    def _prepare(self, ref, adata) -> None:
        from ..preprocessing import expression_input, log_normalize

        er, eq = expression_input(ref), expression_input(adata)
        for note in er.notes:
            self.warn(f"reference: {note}")
        for note in eq.notes:
            self.warn(note)
        ri, qi, how = match_genes(list(ref.var_names), list(adata.var_names))
        if len(ri) < MIN_SHARED_GENES:
            raise ModelSetupError(
                f"{self.name}: reference and sample share only {len(ri)} genes (need "
                f"{MIN_SHARED_GENES}); both must use gene symbols (or both Ensembl ids)")
        if how != "exact":
            self.warn(f"genes matched by case-insensitive symbol ({len(ri)} shared)")
        R = er.X[:, ri]
        order = rank_genes(log_normalize(R), self.y, len(self.categories))
        n_top = self.hparams["n_top_genes"]
        sel = np.sort(order[:n_top]) if 0 < n_top < len(order) else np.arange(len(ri))
        self.var_names = [str(adata.var_names[qi[i]]) for i in sel]
        self.preprocessing = {"input_values": eq.kind, "reference_values": er.kind,
                              "gene_match": how, "n_shared": int(len(ri)),
                              "n_genes": int(len(sel))}
        self.ref_counts = sp.csr_matrix(R[:, sel])
        self.q_counts = sp.csr_matrix(eq.X[:, qi[sel]])

    def _graph(self, adata) -> None:
        self.adj = None
        if self.hparams["smooth"] > 0:
            if "spatial" not in adata.obsm:
                self.warn("the sample has no obsm['spatial']: results are not smoothed")
                return
            from ..graph import build_graph

            self.adj = build_graph(adata, n_neighbors=self.hparams["n_neighbors"])

    # -- training -----------------------------------------------------------------------
    def _training_rows(self, y: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        """Reference inputs and soft targets: cells (labels) or pseudo-spots (proportions)."""
        C = len(self.categories)
        if self.hparams["mode"] == "labels":
            return self.ref_counts, np.eye(C, dtype=np.float32)[y]
        M = pseudo_spot_design(self.ref_counts.shape[0], self.hparams["n_pseudo"],
                               self.hparams["max_cells"], rng)
        onehot = sp.csr_matrix(np.eye(C, dtype=np.float32)[y])
        props = np.asarray((M @ onehot).todense(), dtype=np.float32)
        return M @ self.ref_counts, props / props.sum(1, keepdims=True)

    def _train_one(self, y: np.ndarray, seed: int, label: str, step0: int, total: int,
                   history: dict) -> Iterator[Progress]:
        import torch

        from .nn._transfer import TransferNet

        h = self.hparams
        rng = np.random.default_rng(seed)
        counts, T = self._training_rows(y, rng)
        X, stats = standardised(counts, return_stats=True)
        own = h["gene_scaling"] == "sample"
        self.x_query = standardised(self.q_counts, stats=None if own else stats)
        self.scale_stats = stats
        n_val = int(round(h["calibration_fraction"] * len(X)))
        perm = rng.permutation(len(X))
        val, tr = perm[:n_val], perm[n_val:]
        torch.manual_seed(seed)
        net = TransferNet(X.shape[1], T.shape[1], n_hidden=h["n_hidden"],
                          n_latent=h["n_latent"], dropout=h["dropout"]).to(self.device)
        dev = self.device
        Xt, Tt = torch.from_numpy(X[tr]).to(dev), torch.from_numpy(T[tr]).to(dev)
        Q = torch.from_numpy(self.x_query).to(dev)
        bs = min(h["batch_size"], max(32, len(tr) // 8), len(tr))  # >= ~8 steps per epoch

        def batches():
            order = rng.permutation(len(tr))
            for i in range(0, len(order) - bs + 1, bs):
                q = rng.integers(0, len(Q), bs)
                idx = torch.from_numpy(order[i:i + bs])
                yield {"x_ref": Xt[idx], "y_ref": Tt[idx], "x_query": Q[torch.from_numpy(q)]}

        def ramp(epoch: int) -> dict:  # DANN's schedule: alignment grows from 0
            p = epoch / max(h["epochs"] - 1, 1)
            return {"adv_weight": h["adv_weight"] * (2 / (1 + np.exp(-10 * p)) - 1)}

        plan = TrainingPlan(n_epochs=h["epochs"], lr=h["lr"], weight_decay=h["weight_decay"],
                            schedule=ramp)
        for p in plan.run(net, batches, history=history, label=label):
            yield Progress(step0 + p.step, total, p.message, p.metrics)
        with torch.no_grad():
            temp = 1.0
            if n_val >= 10:
                logits = net(torch.from_numpy(X[val]).to(dev)).cpu().numpy()
                temp = fit_temperature(logits, T[val])
            self._last = (net, temp)

    def _fit_iter(self) -> Iterator[Progress]:
        h = self.hparams
        n_runs = 1 + h["n_null"]
        total = n_runs * h["epochs"]
        yield from self._train_one(self.y, self.seed, self.name, 0, total, self.history)
        self.module, self.temperature = self._last
        self._infer()
        main = (self.x_query, self.scale_stats)
        nulls = []
        rng = np.random.default_rng(self.seed + 7919)
        for r in range(h["n_null"]):
            yield from self._train_one(rng.permutation(self.y), self.seed + 1 + r,
                                       f"{self.name} null {r + 1}/{h['n_null']}",
                                       (1 + r) * h["epochs"], total, {})
            net, temp = self._last
            nulls.append(self._predict(net, temp)[0])
        self.x_query, self.scale_stats = main
        self.pvalues = null_pvalues(self.proba, np.concatenate(nulls)) if nulls else None
        self._last = None

    def _predict(self, net, temp: float) -> tuple[np.ndarray, np.ndarray]:
        import torch

        net.eval()
        with torch.no_grad():
            x = torch.from_numpy(self.x_query).to(self.device)
            logits = net(x).cpu().numpy()
            latent = net.embed(x).cpu().numpy()
        P = softmax(logits / temp)
        if self.adj is not None:
            P = smooth_over_graph(P, self.adj, self.hparams["smooth"])
        return P.astype(np.float32), latent.astype(np.float32)

    def _infer(self) -> None:
        self.proba, self._latent = self._predict(self.module, self.temperature)
        self.pvalues = None

    # -- getters ------------------------------------------------------------------------
    def get_labels(self) -> np.ndarray:
        return np.asarray(self.categories, dtype=object)[self.proba.argmax(1)]

    def get_confidence(self) -> np.ndarray:
        return self.proba.max(1)

    def table_key(self, key: str) -> str:
        return f"{key}_{'proportions' if self.hparams['mode'] == 'proportions' else 'proba'}"

    def extra_uns(self) -> dict[str, Any]:
        return {"categories": list(self.categories), "mode": self.hparams["mode"],
                "temperature": float(self.temperature), "genes": list(self.var_names or []),
                "reference": self.reference_info, "transferred": self._transferred}

    def write(self, adata, key_added: str | None = None) -> list[str]:
        """Labels, calibrated confidence, per-label table (and p-values/FDR) into ``adata``."""
        from scipy.stats import false_discovery_control

        key = key_added or self.default_key
        for suffix in ("proba", "proportions", "pvalue", "fdr"):
            adata.obsm.pop(f"{key}_{suffix}", None)
        written = super().write(adata, key)
        adata.obs[key] = pd.Categorical(adata.obs[key].astype(str), categories=self.categories)
        frame = lambda a: pd.DataFrame(a, index=adata.obs_names, columns=self.categories)  # noqa: E731
        adata.obsm[self.table_key(key)] = frame(self.proba)
        written.append(f"obsm['{self.table_key(key)}']")
        if self.pvalues is not None:
            fdr = np.column_stack([false_discovery_control(p) for p in self.pvalues.T])
            adata.obsm[f"{key}_pvalue"] = frame(self.pvalues)
            adata.obsm[f"{key}_fdr"] = frame(fdr)
            written += [f"obsm['{key}_pvalue']", f"obsm['{key}_fdr']"]
        return written

    # -- persistence --------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        return {"categories": self.categories, "temperature": self.temperature,
                "scale_stats": [np.asarray(v) for v in self.scale_stats],
                "n_input": len(self.var_names), "reference": self.reference_info}

    def _restore_reference_info(self, state: dict[str, Any]) -> None:
        self.reference_info = dict(state.get("reference", {}))

    def _restore_module(self, state: dict[str, Any]) -> None:
        from .nn._transfer import TransferNet

        self.categories = list(state["categories"])
        self.temperature = float(state["temperature"])
        self.scale_stats = tuple(np.asarray(v, dtype=np.float32) for v in state["scale_stats"])
        self._restore_reference_info(state)
        h = self.hparams
        self.module = TransferNet(state["n_input"], len(self.categories), n_hidden=h["n_hidden"],
                                  n_latent=h["n_latent"], dropout=h["dropout"])
        self.module.eval()

    def transform(self, adata) -> LabelTransfer:
        self._applying = True
        try:
            super().transform(adata)
        finally:
            self._applying = False
        self._transferred = True
        return self

    def check_genes(self, adata) -> None:
        """Allow up to a fifth of the model's genes to be missing (zero-filled, warned)."""
        _, qi, _ = match_genes(list(self.var_names or []), list(adata.var_names))
        missing = len(self.var_names or []) - len(qi)
        if missing > 0.2 * len(self.var_names or []):
            raise ModelSetupError(
                f"{self.name}: {missing} of the model's {len(self.var_names)} genes are "
                "missing from this sample; apply it to a slide measuring the same genes")
        if missing:
            self.warn(f"{missing} of the model's genes are missing from this sample (set to 0)")


# -- helpers (also used by the baselines and the benchmark) -------------------------------
def match_genes(ref_names: list[str], query_names: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Indices of the shared genes in each list: exact names, or case-insensitive symbols
    when that matches clearly more (first occurrence of duplicated symbols)."""
    q_index = pd.Index(query_names)
    qi = q_index.get_indexer(ref_names)
    exact = np.flatnonzero(qi >= 0)
    up_q = pd.Index([g.upper() for g in query_names])
    up_q = pd.Series(np.arange(len(up_q)), index=up_q)
    up_q = up_q[~up_q.index.duplicated()]
    qu = up_q.reindex([g.upper() for g in ref_names]).to_numpy()
    loose = np.flatnonzero(~np.isnan(qu))
    if len(loose) > max(1.2 * len(exact), len(exact) + 1):
        ri = loose[~pd.Series(qu[loose]).duplicated().to_numpy()]
        return ri, qu[ri].astype(np.int64), "case-insensitive"
    return exact, qi[exact].astype(np.int64), "exact"


def query_matrix(adata, var_names: list[str], stats=None) -> np.ndarray:
    """Standardised log expression of ``adata`` for ``var_names`` (missing genes = 0)."""
    from ..preprocessing import expression_input

    X = expression_input(adata).X
    ri, qi, _ = match_genes(list(var_names), list(adata.var_names))
    cols = sp.csr_matrix((np.ones(len(ri), np.float32), (qi, ri)),
                         shape=(adata.n_vars, len(var_names)))
    return standardised(sp.csr_matrix(X @ cols), stats=stats)


def standardised(counts, *, stats=None, return_stats: bool = False):
    """Log-normalised, then every gene centred and scaled on this data set alone (removes
    a gene's platform-wide shift between reference and query), or with ``stats`` (the
    ``(mean, sd)`` of another data set)."""
    from ..preprocessing import log_normalize, standardise_genes

    mean, sd = stats if stats is not None else (None, None)
    X, mean, sd = standardise_genes(log_normalize(counts), scale=True, mean=mean, sd=sd)
    X = X.astype(np.float32)
    return (X, (mean, sd)) if return_stats else X


def rank_genes(L, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Genes ordered by an ANOVA F statistic of log expression between the labels."""
    onehot = sp.csr_matrix((np.ones(len(y)), (np.arange(len(y)), y)), shape=(len(y), n_classes))
    n = np.asarray(onehot.sum(0)).ravel()[:, None]
    means = np.asarray((onehot.T @ L).todense()) / n
    sq = np.asarray((onehot.T @ L.multiply(L)).todense()) / n
    within = ((sq - means**2) * n).sum(0) / max(len(y) - n_classes, 1)
    grand = np.asarray(L.mean(0)).ravel()
    between = (n * (means - grand) ** 2).sum(0) / max(n_classes - 1, 1)
    return np.argsort(-(between / (within + 1e-6)), kind="stable")


def pseudo_spot_design(n_cells: int, n_spots: int, max_cells: int, rng) -> sp.csr_matrix:
    """0/1 matrix (pseudo-spots x cells): each row picks 2..``max_cells`` random cells."""
    k = rng.integers(2, max_cells + 1, n_spots)
    rows = np.repeat(np.arange(n_spots), k)
    cols = rng.integers(0, n_cells, k.sum())
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_spots, n_cells))


def fit_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    """Temperature minimising the held-out negative log-likelihood (Guo et al. 2017)."""
    grid = np.exp(np.linspace(np.log(0.2), np.log(10), 61))
    nll = [-(target * np.log(softmax(logits / t) + 1e-9)).sum(1).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def smooth_over_graph(P: np.ndarray, adj, weight: float) -> np.ndarray:
    """``(1 - weight) * P + weight * mean of the neighbours' P`` (isolated spots keep P)."""
    deg = np.asarray(adj.sum(1)).ravel()
    nb = adj @ P / np.maximum(deg, 1)[:, None]
    out = np.where(deg[:, None] > 0, (1 - weight) * P + weight * nb, P)
    return out / out.sum(1, keepdims=True)


def null_pvalues(P: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Per spot and label: share of the null values (pooled over spots and null networks)
    at least as large as the observed one, ``(1 + #null >= p) / (1 + n_null)``."""
    out = np.empty_like(P, dtype=np.float64)
    for j in range(P.shape[1]):
        s = np.sort(null[:, j])
        ge = len(s) - np.searchsorted(s, P[:, j], side="left")
        out[:, j] = (1 + ge) / (1 + len(s))
    return out
