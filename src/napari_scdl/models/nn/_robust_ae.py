"""A robust deep autoencoder: the input split into a low-rank clean part and sparse outliers.

Zhou & Paffenroth (2017), "Anomaly detection with robust deep autoencoders", KDD 2017
(RDA, the robust-PCA split ``X = L_D + S`` with a deep autoencoder in place of the low-rank
factorisation), as RDAClone uses it to embed noisy tumour spots into subclones.

This module is the network and the two steps of the alternation; the model class
(:mod:`napari_scdl.models.subclones`) alternates them:

1. train the autoencoder on the clean part ``L = X - S`` (mean squared error);
2. update the outlier part by the proximal step of the L1 penalty,
   ``S = shrink(X - AE(L), lam)`` (soft thresholding), so that entries the autoencoder
   cannot reconstruct move into ``S`` and stop pulling the embedding.

With ``S`` kept at zero the same network is a plain autoencoder (the baseline).
"""

from __future__ import annotations

import torch
from torch import nn


def shrink(x: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """Soft thresholding: the proximal operator of ``lam * |x|_1`` (element-wise)."""
    return torch.sign(x) * torch.clamp(x.abs() - lam, min=0.0)


class RobustAutoencoder(nn.Module):
    """MLP autoencoder of standardised features. Batch dict: ``x`` (the clean part ``L``)."""

    def __init__(self, n_input: int, *, n_hidden: int = 128, n_latent: int = 16,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.n_input, self.n_hidden, self.n_latent = n_input, n_hidden, n_latent
        self.encoder = nn.Sequential(
            nn.Linear(n_input, n_hidden), nn.LayerNorm(n_hidden), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(n_hidden, n_latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_latent, n_hidden), nn.LayerNorm(n_hidden), nn.GELU(),
            nn.Linear(n_hidden, n_input),
        )

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z = self.encoder(batch["x"])
        return {"z": z, "x_hat": self.decoder(z)}

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self(batch)
        rec = (out["x_hat"] - batch["x"]).pow(2).sum(-1).mean()
        return {"loss": rec, "reconstruction": rec}

    @torch.no_grad()
    def outlier_step(self, x: torch.Tensor, s: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """The new sparse part ``shrink(X - AE(X - S), lam)`` (``lam``: scalar or per feature)."""
        was = self.training
        self.eval()
        x_hat = self({"x": x - s})["x_hat"]
        self.train(was)
        return shrink(x - x_hat, lam)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_input={self.n_input}, n_hidden={self.n_hidden}, "
                f"n_latent={self.n_latent})")
