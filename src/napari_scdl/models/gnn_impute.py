"""``gnn_impute``: scGNN-like imputation over a learned spot graph (AnnData glue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import register_model
from ._base import Param, Progress
from ._latent import CLUSTER_PARAMS, GENE_PARAM, LatentModel
from ._train import TrainingPlan


@register_model
class GNNImputeModel(LatentModel):
    """Graph-neural-network imputation (Wang et al. 2021, Nature Communications 12:1882,
    scGNN).

    1. A feature autoencoder embeds the log-normalised expression of ``n_top_genes``
       highly variable genes.
    2. A kNN graph of the spots (``n_neighbors``, long edges beyond mean + 1 sd pruned as
       in scGNN) is built from that embedding; a graph autoencoder (two GCN layers,
       inner-product decoder) learns a graph embedding, from which the graph is rebuilt;
       this repeats ``graph_iterations`` times (the learned graph).
    3. The imputed expression is the feature decoder's output smoothed over the learned
       graph: ``(1 - alpha) * own + alpha * neighbourhood mean``.

    The graph is learned from expression only (no coordinates), so the model also applies
    to dissociated cells.

    Writes
    ------
    ``obsm['X_{key}']``
        graph embedding (n_latent dims).
    ``layers['{key}_imputed']``
        imputed log-normalised expression of the model genes (0 for other genes).
    ``obs['{key}']``, ``obs['{key}_confidence']``
        clusters of the graph embedding when ``n_clusters`` > 0.
    ``uns['{key}']``
        params, seed, device, versions, training history, ``genes``, ``n_edges``.
    """

    name = "gnn_impute"
    description = "scGNN-like imputation: expression smoothed over a learned spot graph"
    citation = "Wang et al. (2021) Nature Communications 12:1882"
    default_key = "gnn_impute"
    params = (
        GENE_PARAM,
        Param("n_latent", 16, "dimensions of the graph embedding", min=2, max=256),
        Param(
            "n_hidden",
            256,
            "units of the feature autoencoder's hidden layer (scGNN: 512)",
            min=8,
            max=4096,
        ),
        Param("n_neighbors", 10, "neighbours per spot in the learned graph", min=1, max=100),
        Param(
            "graph_iterations", 2, "rounds of graph learning (GAE -> new kNN graph)", min=1, max=20
        ),
        Param(
            "alpha", 0.5, "weight of the neighbourhood mean in the imputed values", min=0.0, max=1.0
        ),
        Param("feature_epochs", 30, "epochs of the feature autoencoder", min=1, max=10000),
        Param("graph_epochs", 100, "epochs of the graph autoencoder per round", min=1, max=10000),
        Param("batch_size", 256, "spots per mini-batch (feature autoencoder)", min=8),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
        *CLUSTER_PARAMS,
    )
    writes = LatentModel.writes + ("layers['{key}_imputed']",)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.n_edges = 0

    def _arch_from_inputs(self) -> dict[str, Any]:
        h = self.hparams
        return {
            "n_genes": self.inputs.counts.shape[1],
            "n_hidden": h["n_hidden"],
            "n_latent": h["n_latent"],
        }

    def _build_module(self, **arch: Any):
        from .nn._gnn_impute import GNNImpute

        return GNNImpute(**arch)

    def _xlog(self, rows):
        import torch

        return torch.from_numpy(self.inputs.lognorm(rows)).to(self.device)

    def _train(self) -> Iterator[Progress]:
        import torch

        h = self.hparams
        gen = self._generator()
        total = h["feature_epochs"] + h["graph_iterations"] * h["graph_epochs"]
        fae, gae = self.module.feature_ae, self.module.graph_ae

        def feature_batches():
            for rows in self._minibatches(h["batch_size"], gen):
                yield {"x": self._xlog(rows)}

        plan = TrainingPlan(n_epochs=h["feature_epochs"], lr=h["lr"])
        hist: dict[str, list[float]] = {}
        for p in plan.run(fae, feature_batches, history=hist, label="feature autoencoder"):
            yield Progress(p.step, total, f"{self.name}: {p.message}", p.metrics)
        self.history["feature_loss"] = hist["loss"]
        z = self._feature_embedding()
        edge_index = self._knn_graph(z)
        self.history["graph_loss"] = []
        for it in range(h["graph_iterations"]):
            plan = TrainingPlan(n_epochs=h["graph_epochs"], lr=h["lr"])

            def graph_batches(ei=edge_index):
                neg = torch.randint(0, z.shape[0], (2, ei.shape[1]), generator=gen)
                yield {"x": z, "edge_index": ei, "neg": neg.to(self.device)}

            hist = {}
            offset = h["feature_epochs"] + it * h["graph_epochs"]
            label = f"graph autoencoder {it + 1}/{h['graph_iterations']}"
            for p in plan.run(gae, graph_batches, history=hist, label=label):
                yield Progress(offset + p.step, total, f"{self.name}: {p.message}", p.metrics)
            self.history["graph_loss"] += hist["loss"]
            with torch.no_grad():
                edge_index = self._knn_graph(gae.encode(z, edge_index))

    def _feature_embedding(self):
        import torch

        self.module.feature_ae.eval()
        n = self.inputs.n_obs
        with torch.no_grad():
            parts = [
                self.module.feature_ae.encode(self._xlog(rows))
                for rows in np.array_split(np.arange(n), max(1, n // 1024))
            ]
        return torch.cat(parts)

    def _knn_graph(self, emb):
        """Symmetric kNN graph of ``emb`` (edge_index, both directions), edges longer
        than mean + 1 sd of the kNN distances pruned (scGNN)."""
        import torch
        from sklearn.neighbors import NearestNeighbors

        x = emb.detach().cpu().numpy().astype(np.float64)
        k = min(self.hparams["n_neighbors"], len(x) - 1)
        dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
        dist, idx = dist[:, 1:], idx[:, 1:]
        keep = dist <= dist.mean() + dist.std()
        rows = np.repeat(np.arange(len(x)), k)[keep.ravel()]
        cols = idx.ravel()[keep.ravel()]
        pairs = np.unique(
            np.concatenate([np.stack([rows, cols]), np.stack([cols, rows])], 1), axis=1
        )
        self.n_edges = pairs.shape[1] // 2
        return torch.from_numpy(pairs.astype(np.int64)).to(self.device)

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from .nn._gnn_impute import smooth

        self.module.eval()
        gae = self.module.graph_ae
        with torch.no_grad():
            z = self._feature_embedding()
            edge_index = self._knn_graph(z)
            for _ in range(self.hparams["graph_iterations"]):
                edge_index = self._knn_graph(gae.encode(z, edge_index))
            latent = gae.encode(z, edge_index)
            xhat = self.module.feature_ae.decode(z)
            imputed = smooth(xhat, edge_index, alpha=self.hparams["alpha"]).clamp(min=0)
        return latent.cpu().numpy(), imputed.cpu().numpy()

    def extra_uns(self) -> dict[str, Any]:
        return super().extra_uns() | {"n_edges": int(self.n_edges)}
