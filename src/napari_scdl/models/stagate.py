"""``stagate``: STAGATE-like graph attention autoencoder for spatial domains (AnnData glue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import register_model
from ._base import Param, Progress
from ._latent import CLUSTER_PARAMS, LatentModel
from ._train import TrainingPlan


@register_model
class STAGATEModel(LatentModel):
    """Graph attention autoencoder over the spatial spot graph (Dong & Zhang 2022, Nature
    Communications 13:1739, STAGATE).

    Each spot's log-normalised expression of ``n_top_genes`` highly variable genes
    (projected on its ``n_pcs`` principal axes, fitted on the training slide and kept with
    the model; ``n_pcs=0`` feeds the genes as STAGATE does, slower on CPU) is encoded with
    attention over its spatial neighbours (the Visium hexagon, or the ``n_neighbors``
    nearest spots) into a ``n_latent`` embedding, clustered into spatial domains with a
    tied-covariance Gaussian mixture (the mclust EEE analogue).

    Writes
    ------
    ``obsm['X_{key}']``
        the spatial embedding (n_latent dims).
    ``layers['{key}_imputed']``
        the reconstructed (denoised) log-normalised expression of the model genes.
    ``obs['{key}']``, ``obs['{key}_confidence']``
        spatial domains when ``n_clusters`` > 0.
    ``uns['{key}']``
        params, seed, device, versions, training history, ``genes``.
    """

    name = "stagate"
    description = "STAGATE-like graph attention autoencoder over the spatial graph: spatial domains"
    citation = "Dong & Zhang (2022) Nature Communications 13:1739"
    default_key = "stagate"
    spatial = True
    params = (
        Param("n_top_genes", 3000, "highly variable genes the model uses", min=10),
        Param(
            "n_pcs",
            50,
            "principal axes of the genes the network sees (0: the genes)",
            min=0,
            max=500,
        ),
        Param("n_latent", 30, "dimensions of the embedding", min=2, max=256),
        Param("n_hidden", 128, "units of the attention layers (STAGATE: 512)", min=8, max=4096),
        Param(
            "n_neighbors",
            6,
            "spatial neighbours per spot (Visium: 6 per hexagon ring)",
            min=2,
            max=60,
        ),
        Param("epochs", 200, "training epochs (full graph; STAGATE: 1000)", min=1, max=10000),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
        Param("weight_decay", 1e-4, "L2 penalty on the weights", min=0.0, max=1.0),
        *CLUSTER_PARAMS,
        Param("refine", False, "smooth the domains by neighbourhood majority vote"),
    )
    writes = LatentModel.writes + ("layers['{key}_imputed']",)

    def _arch_from_inputs(self) -> dict[str, Any]:
        h = self.hparams
        return {
            "n_genes": self.inputs.counts.shape[1],
            "n_hidden": h["n_hidden"],
            "n_latent": h["n_latent"],
            "n_pcs": min(h["n_pcs"], self.inputs.counts.shape[1], self.inputs.n_obs - 1),
        }

    def _build_module(self, **arch: Any):
        from .nn._gat import GATAutoencoder

        return GATAutoencoder(**arch)

    def _graph_batch(self) -> dict[str, Any]:
        import torch

        from ..graph import to_edge_index

        edge_index, _ = to_edge_index(self.inputs.adjacency)
        return {
            "x": torch.from_numpy(self.inputs.lognorm()).to(self.device),
            "edge_index": edge_index.to(self.device),
        }

    def _train(self) -> Iterator[Progress]:
        import torch

        h = self.hparams
        batch = self._graph_batch()
        if self.module.n_pcs:
            self._fit_projection(batch["x"])
            with torch.no_grad():
                batch = {
                    "feats": self.module.features(batch["x"]),
                    "edge_index": batch["edge_index"],
                }
        plan = TrainingPlan(n_epochs=h["epochs"], lr=h["lr"], weight_decay=h["weight_decay"])
        yield from plan.run(self.module, lambda: [batch], history=self.history, label=self.name)

    def _fit_projection(self, x) -> None:
        """Principal axes of the training slide's expression (kept in the module)."""
        import torch
        from sklearn.decomposition import PCA

        xn = x.cpu().numpy()
        pca = PCA(self.module.n_pcs, svd_solver="randomized", random_state=self.seed).fit(xn)
        axes = torch.from_numpy(pca.components_.T.astype(np.float32))
        center = torch.from_numpy(pca.mean_.astype(np.float32))
        self.module.set_projection(axes.to(self.device), center.to(self.device))

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        self.module.eval()
        with torch.no_grad():
            out = self.module(self._graph_batch())
        return out["z"].cpu().numpy(), out["xhat"].clamp(min=0).cpu().numpy()
