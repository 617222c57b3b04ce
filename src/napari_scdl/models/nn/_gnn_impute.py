"""Feature autoencoder + graph autoencoder for graph-based imputation (after scGNN).

Wang, Ma, Chang, Wang, Fu, Mao, Li & Xu (2021), "scGNN is a novel graph neural network
framework for single-cell RNA-Seq analyses", Nature Communications 12:1882.

* :class:`FeatureAE` (scGNN's feature autoencoder, 512-128 dense layers): log-normalised
  expression -> embedding -> reconstructed log-normalised expression (MSE).
* :class:`GraphAE` (scGNN's graph autoencoder; Kipf & Welling 2016 GAE): two GCN layers
  over a cell/spot graph built from the feature embedding; an inner-product decoder scores
  edges; loss: binary cross-entropy on the graph's edges against random non-edges.
* :func:`smooth` gives the imputed expression: the feature decoder's output averaged over
  the learned graph (scGNN regularises its imputation autoencoder with the cell graph; the
  explicit neighbourhood average is the closed form of that smoothing).

:class:`GNNImpute` only holds the two networks so that they are saved together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureAE(nn.Module):
    """Batch dict: ``x`` (cells x genes, log-normalised)."""

    def __init__(self, n_genes: int, *, n_hidden: int = 512, n_latent: int = 128) -> None:
        super().__init__()
        self.n_genes, self.n_hidden, self.n_latent = n_genes, n_hidden, n_latent
        self.encoder = nn.Sequential(
            nn.Linear(n_genes, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_latent), nn.ReLU()
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_latent, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_genes)
        )

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        xhat = self.decode(self.encode(batch["x"]))
        rec = F.mse_loss(xhat, batch["x"])
        return {"loss": rec, "reconstruction": rec}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n_genes}, {self.n_hidden}, {self.n_latent})"


class GraphAE(nn.Module):
    """Batch dict: ``x`` (node features), ``edge_index`` (the graph, both directions),
    ``neg`` (2 x m random node pairs used as non-edges)."""

    def __init__(self, n_in: int, *, n_hidden: int = 32, n_latent: int = 16) -> None:
        from torch_geometric.nn import GCNConv

        super().__init__()
        self.n_in, self.n_hidden, self.n_latent = n_in, n_hidden, n_latent
        self.conv1 = GCNConv(n_in, n_hidden)
        self.conv2 = GCNConv(n_hidden, n_latent)

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)

    @staticmethod
    def edge_logits(h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """Inner-product decoder: logit of an edge for each column of ``pairs``."""
        return (h[pairs[0]] * h[pairs[1]]).sum(-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = self.encode(batch["x"], batch["edge_index"])
        pos = self.edge_logits(h, batch["edge_index"])
        neg = self.edge_logits(h, batch["neg"])
        loss = F.binary_cross_entropy_with_logits(
            pos, torch.ones_like(pos)
        ) + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        return {"loss": loss}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n_in}, {self.n_hidden}, {self.n_latent})"


class GNNImpute(nn.Module):
    """The feature and graph autoencoders of one scGNN-like model."""

    def __init__(
        self,
        n_genes: int,
        *,
        n_hidden: int = 512,
        n_feature_latent: int = 128,
        n_graph_hidden: int = 32,
        n_latent: int = 16,
    ) -> None:
        super().__init__()
        self.feature_ae = FeatureAE(n_genes, n_hidden=n_hidden, n_latent=n_feature_latent)
        self.graph_ae = GraphAE(n_feature_latent, n_hidden=n_graph_hidden, n_latent=n_latent)

    def reset_parameters(self) -> None:
        self.feature_ae.reset_parameters()
        self.graph_ae.reset_parameters()


def smooth(x: torch.Tensor, edge_index: torch.Tensor, *, alpha: float = 0.5) -> torch.Tensor:
    """``(1 - alpha) * x + alpha * mean of x over each node's neighbours`` (sparse)."""
    n = x.shape[0]
    src, dst = edge_index
    summed = torch.zeros_like(x).index_add_(0, dst, x[src])
    deg = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(
        0, dst, torch.ones_like(dst, dtype=x.dtype)
    )
    mean = summed / deg.clamp(min=1).unsqueeze(-1)
    mean = torch.where(deg.unsqueeze(-1) > 0, mean, x)
    return (1 - alpha) * x + alpha * mean
