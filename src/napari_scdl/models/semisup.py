"""``semisup_gnn``: semi-supervised graph neural network that extends a partial annotation
to every spot (AnnData glue; the network is :class:`~.nn._classifier.APPNPClassifier`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSetupError
from . import register_model
from ._base import BaseModel, Param, Progress
from ._train import TrainingPlan

logger = logging.getLogger(__name__)

_DENSE_PCA_MAX = 100_000_000  # matrix entries (400 MB as float32)


#: what ``obs[confidence_key(key)]`` holds (stored in ``uns[key]['confidence_method']``);
#: on DLPFC 151673 with 5% of spots labelled it is calibrated on the held-out 95% (ECE
#: 0.033, benchmarks/bench_calibration.py), so it is not tempered
SEMISUP_CONFIDENCE = (
    "max class probability of the ensemble-averaged APPNP softmax (labelled spots: 1)"
)


def confidence_key(key: str) -> str:
    """``predicted_label`` -> ``predicted_confidence``; any other key -> ``{key}_confidence``."""
    return key[: -len("_label")] + "_confidence" if key.endswith("_label") else f"{key}_confidence"


@register_model
class SemiSupervisedGNN(BaseModel):
    """Label every spot from a partial annotation with a graph neural network.

    An APPNP classifier (Gasteiger et al. 2019, ICLR, "Predict then Propagate: Graph
    Neural Networks meet Personalized PageRank") over the spatial spot graph: an MLP on the
    expression PCA (of log-normalised genes, all by default; plus ``obsm[histology_key]``
    image features when given) predicts per spot, and personalised-PageRank propagation
    over the neighbour graph smooths the predictions; a spot lattice is far wider than the
    citation graphs APPNP was made for (a Visium slide is ~70 spots across), so the
    defaults propagate further than the paper's (teleport 0.02 over 40 steps instead of
    0.1 over 10). The cross-entropy is computed on the
    labelled spots only (semi-supervised, transductive); ``n_ensemble`` networks with
    different seeds are averaged. Labelled spots keep their label (confidence 1).

    Writes
    ------
    ``obs['{key}']``
        predicted category of every spot.
    ``obs['{confidence}']``
        max softmax probability: ``predicted_confidence`` for the default key
        ``predicted_label``, else ``{key}_confidence``.
    ``obsm['{key}_proba']``
        class probabilities (columns in the order of ``uns['{key}']['categories']``).
    ``uns['{key}']``
        params, seed, device, versions, history, categories, n_labelled, n_genes.

    The model is transductive (it labels the spots of the sample it was trained on);
    ``save`` keeps its weights but ``load`` is not supported.
    """

    name = "semisup_gnn"
    description = "Semi-supervised GNN: extends a partial annotation to every spot, with confidence"
    citation = "Gasteiger, Bojchevski & Guennemann (2019) ICLR (APPNP)"
    default_key = "predicted_label"
    spatial = True
    params = (
        Param(
            "labels_key", "annotation", "obs column with the partial labels (missing = unlabelled)"
        ),
        Param(
            "n_top_genes",
            0,
            "genes with the most variable log expression used (0 = every gene)",
            min=0,
        ),
        Param("n_pcs", 50, "principal components of the expression", min=2, max=500),
        Param("histology_key", "", "obsm key of per-spot image features to add ('' = none)"),
        Param(
            "n_neighbors",
            6,
            "spatial neighbours per spot (Visium: 6 per hexagon ring)",
            min=2,
            max=60,
        ),
        Param("n_hidden", 64, "hidden units of the MLP", min=4, max=4096),
        Param("k_hops", 40, "propagation steps over the spatial graph", min=0, max=200),
        Param(
            "alpha",
            0.02,
            "teleport probability (share of a spot's own prediction)",
            min=0.01,
            max=1.0,
        ),
        Param("dropout", 0.5, "dropout rate", min=0.0, max=0.95),
        Param("epochs", 300, "training epochs (full graph)", min=1, max=10000),
        Param("lr", 0.01, "learning rate (Adam)", min=1e-6, max=1.0),
        Param("weight_decay", 5e-4, "L2 penalty on the weights", min=0.0, max=1.0),
        Param("entropy_weight", 0.0, "entropy penalty on unlabelled spots", min=0.0, max=10.0),
        Param("n_ensemble", 3, "networks trained with different seeds and averaged", min=1, max=50),
    )
    writes = ("obs['{key}']", "obs['{confidence}']", "obsm['{key}_proba']", "uns['{key}']")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._labels: pd.Series | None = None
        self.categories: list[str] = []
        self.proba: np.ndarray | None = None

    def set_labels(self, labels: pd.Series | None) -> SemiSupervisedGNN:
        """Train on these barcode-indexed labels instead of ``obs[labels_key]``."""
        self._labels = labels
        return self

    # -- setup --------------------------------------------------------------------------
    def _partial_labels(self, adata, problems: list[str]) -> pd.Series | None:
        key = self.hparams["labels_key"]
        if self._labels is not None:
            return self._labels.reindex(adata.obs_names)
        if key not in adata.obs:
            problems.append(
                f"obs[{key!r}] (the partial labels) is missing; set labels_key to an "
                f"annotation column (available: {list(adata.obs.columns)})"
            )
            return None
        return adata.obs[key]

    def setup(self, adata) -> None:
        from .. import preprocessing as pp
        from ..graph import build_graph, gcn_normalize

        problems: list[str] = []
        labels = self._partial_labels(adata, problems)
        if "spatial" not in adata.obsm:
            problems.append(
                "obsm['spatial'] is missing; read the sample with napari_scdl.io.read()"
            )
        hkey = self.hparams["histology_key"]
        if hkey and hkey not in adata.obsm:
            problems.append(
                f"obsm[{hkey!r}] (image features) is missing; compute them first or "
                "set histology_key=''"
            )
        if labels is not None:
            lab = labels.astype("object").where(labels.notna(), None)
            cats = sorted({str(v) for v in lab if v is not None})
            if len(cats) < 2:
                problems.append(
                    f"the partial labels need at least 2 categories with labelled "
                    f"spots, found {cats}"
                )
        if problems:
            raise ModelSetupError(f"{self.name}: " + "; ".join(problems))
        self.categories = cats
        codes = pd.Categorical([None if v is None else str(v) for v in lab], categories=cats).codes
        self.y = np.asarray(codes, dtype=np.int64)
        expr = pp.expression_input(adata)
        for note in expr.notes:
            self.warn(note)
        detected = np.flatnonzero(
            np.asarray((expr.X > 0).sum(0)).ravel() >= min(pp.MIN_SPOTS_PER_GENE, adata.n_obs)
        )
        if detected.size == 0:
            raise ModelSetupError(f"{self.name}: no gene is detected in the sample")
        genes, feats = expression_pcs(
            expr.X[:, detected], self.hparams["n_top_genes"], self.hparams["n_pcs"], self.seed
        )
        genes = detected[genes]
        self.preprocessing = {
            "input_values": expr.kind,
            "input_source": expr.source,
            "gene_selection": {
                "flavor": "variance of log-normalised values",
                "n_genes": int(len(genes)),
                "n_detected": int(detected.size),
            },
        }
        self.var_names = list(adata.var_names[genes])
        if hkey:
            img = np.asarray(adata.obsm[hkey], dtype=np.float32)
            img = pp.pca(img, min(self.hparams["n_pcs"], img.shape[1]), seed=self.seed, scale=True)
            feats = np.hstack([_standardise(feats), _standardise(img)])
        self.x = _standardise(feats)
        adj = build_graph(adata, n_neighbors=self.hparams["n_neighbors"])
        self.adj = gcn_normalize(adj)
        n_lab = int((self.y >= 0).sum())
        logger.info(
            "%s: %d labelled spots in %d categories, %d unlabelled",
            self.name,
            n_lab,
            len(cats),
            len(self.y) - n_lab,
        )

    # -- training -----------------------------------------------------------------------
    def _build(self, seed: int):
        import torch

        from .nn._classifier import APPNPClassifier

        h = self.hparams
        torch.manual_seed(int(seed))
        return APPNPClassifier(
            self.x.shape[1],
            len(self.categories),
            n_hidden=h["n_hidden"],
            dropout=h["dropout"],
            k_hops=h["k_hops"],
            alpha=h["alpha"],
        )

    def _batch(self) -> dict[str, Any]:
        import torch

        from .nn._sparse import csr_tensor

        return {
            "x": torch.from_numpy(self.x).to(self.device),
            "adj": csr_tensor(self.adj, self.device),
            "y": torch.from_numpy(self.y).to(self.device),
        }

    def _fit_iter(self) -> Iterator[Progress]:
        import torch

        h = self.hparams
        batch = self._batch()
        proba = np.zeros((len(self.y), len(self.categories)), dtype=np.float64)
        n_runs = h["n_ensemble"]
        for run in range(n_runs):
            self.module = self._build(self.seed + run).to(self.device)
            plan = TrainingPlan(
                n_epochs=h["epochs"],
                lr=h["lr"],
                weight_decay=h["weight_decay"],
                loss_weights={"entropy_weight": h["entropy_weight"]},
            )
            label = f"{self.name} {run + 1}/{n_runs}" if n_runs > 1 else self.name
            for p in plan.run(self.module, lambda: [batch], history=self.history, label=label):
                yield Progress(
                    run * h["epochs"] + p.step, n_runs * h["epochs"], p.message, p.metrics
                )
            with torch.no_grad():
                proba += self.module(batch["x"], batch["adj"]).softmax(1).cpu().numpy()
        self.proba = (proba / n_runs).astype(np.float32)

    # -- getters ------------------------------------------------------------------------
    def _final_proba(self) -> np.ndarray:
        self._require_trained()
        p = self.proba.copy()
        lab = self.y >= 0
        p[lab] = np.eye(len(self.categories), dtype=np.float32)[self.y[lab]]
        return p

    def get_labels(self) -> np.ndarray:
        return np.asarray(self.categories, dtype=object)[self._final_proba().argmax(1)]

    def get_confidence(self) -> np.ndarray:
        return self._final_proba().max(1)

    def extra_uns(self) -> dict[str, Any]:
        return {
            "categories": list(self.categories),
            "n_labelled": int((self.y >= 0).sum()),
            "n_genes": len(self.var_names or []),
            "confidence_method": SEMISUP_CONFIDENCE,
        }

    def write(self, adata, key_added: str | None = None) -> list[str]:
        """Labels in ``obs[key]``, confidence in ``obs[confidence_key(key)]``, probabilities
        in ``obsm[f"{key}_proba"]`` and provenance in ``uns[key]``."""
        from ._results import write_result

        key = key_added or self.default_key
        written = write_result(
            adata, key, labels=self.get_labels(), info=self.provenance() | self.extra_uns()
        )
        # keep every category the user labelled, in their order, even if none was predicted
        adata.obs[key] = pd.Categorical(adata.obs[key].astype(str), categories=self.categories)
        ckey = confidence_key(key)
        adata.obs[ckey] = self.get_confidence().astype(np.float32)
        adata.obsm[f"{key}_proba"] = self._final_proba()
        return written + [f"obs['{ckey}']", f"obsm['{key}_proba']"]


def expression_pcs(
    counts, n_top_genes: int, n_pcs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the genes used and the PCA of their log-normalised expression.

    Genes are ranked by the variance of their log-normalised expression (not by the
    dispersion of ``select_hvg``'s fallback, which prefers rare noisy genes and lost 2
    points of accuracy on DLPFC); ``n_top_genes=0`` keeps every gene. The PCA is not
    scaled per gene; it runs on a dense copy when that is small (randomised solver), else
    on the sparse matrix (implicit centring, ARPACK), so whole transcriptomes fit in memory.
    """
    from sklearn.decomposition import PCA

    from ..preprocessing import log_normalize, pca

    L = log_normalize(counts)
    genes = np.arange(L.shape[1])
    if 0 < n_top_genes < L.shape[1]:
        mean = np.asarray(L.mean(0)).ravel()
        var = np.asarray(L.multiply(L).mean(0)).ravel() - mean**2
        genes = np.sort(np.argsort(-var, kind="stable")[:n_top_genes])
        L = L[:, genes]
    n = int(min(n_pcs, min(L.shape) - 1))
    if L.shape[0] * L.shape[1] <= _DENSE_PCA_MAX:
        return genes, pca(L, n, seed=seed, scale=False)
    model = PCA(n_components=n, svd_solver="arpack", random_state=seed)
    return genes, model.fit_transform(L).astype(np.float32)


def _standardise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    sd = x.std(0)
    sd[sd == 0] = 1
    return ((x - x.mean(0)) / sd).astype(np.float32)
