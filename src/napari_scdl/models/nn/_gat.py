"""A graph attention autoencoder over the spatial spot graph (after STAGATE).

Dong & Zhang (2022), "Deciphering spatial domains from spatially resolved transcriptomics
with an adaptive graph attention auto-encoder", Nature Communications 13:1739.

Encoder: GAT layer (attention over each spot's spatial neighbours and itself) -> ELU ->
linear layer to the latent embedding. Decoder: GAT layer -> ELU -> linear layer back to
the input features. Loss: mean squared error of the reconstructed features.

Simplifications: STAGATE ties the decoder's weights and attention to the encoder's; here
the decoder has its own. With ``n_pcs > 0`` the features are the projection of the
log-normalised expression on fixed principal axes (a non-trainable linear layer kept as
buffers, set with :meth:`set_projection`), and the reconstructed expression is the
reconstruction mapped back through those axes; ``n_pcs=0`` uses the genes directly as
STAGATE does (slower on CPU, as the first and last layers then scale with the genes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GATAutoencoder(nn.Module):
    """Full-graph batch dict: ``x`` (spots x genes, log-normalised) and ``edge_index``."""

    def __init__(
        self, n_genes: int, *, n_hidden: int = 512, n_latent: int = 30, n_pcs: int = 0
    ) -> None:
        from torch_geometric.nn import GATConv

        super().__init__()
        self.n_genes, self.n_hidden, self.n_latent, self.n_pcs = n_genes, n_hidden, n_latent, n_pcs
        n_in = n_pcs or n_genes
        if n_pcs:
            self.register_buffer("axes", torch.zeros(n_genes, n_pcs))
            self.register_buffer("center", torch.zeros(n_genes))
        self.enc_gat = GATConv(n_in, n_hidden, heads=1, add_self_loops=True)
        self.enc_lin = nn.Linear(n_hidden, n_latent)
        self.dec_gat = GATConv(n_latent, n_hidden, heads=1, add_self_loops=True)
        self.dec_lin = nn.Linear(n_hidden, n_in)

    def reset_parameters(self) -> None:
        for m in (self.enc_gat, self.enc_lin, self.dec_gat, self.dec_lin):
            m.reset_parameters()

    def set_projection(self, axes: torch.Tensor, center: torch.Tensor) -> None:
        """Fix the input projection: ``features = (x - center) @ axes`` (genes x n_pcs)."""
        self.axes.copy_(axes)
        self.center.copy_(center)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center) @ self.axes if self.n_pcs else x

    def encode(self, feats: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.enc_lin(F.elu(self.enc_gat(feats, edge_index)))

    def decode(self, z: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.dec_lin(F.elu(self.dec_gat(z, edge_index)))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``z`` (embedding), ``feats`` / ``fhat`` (input / reconstructed features) and, in
        eval mode, ``xhat`` (reconstructed expression). A batch may carry precomputed
        ``feats`` instead of ``x``."""
        feats = batch["feats"] if "feats" in batch else self.features(batch["x"])
        z = self.encode(feats, batch["edge_index"])
        fhat = self.decode(z, batch["edge_index"])
        out = {"z": z, "feats": feats, "fhat": fhat}
        if not self.training:
            out["xhat"] = fhat @ self.axes.T + self.center if self.n_pcs else fhat
        return out

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self(batch)
        rec = F.mse_loss(out["fhat"], out["feats"])
        return {"loss": rec, "reconstruction": rec}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_genes={self.n_genes}, n_hidden={self.n_hidden}, "
            f"n_latent={self.n_latent}, n_pcs={self.n_pcs})"
        )
