"""A denoising autoencoder for expression (after DCA and SAUCIE).

Eraslan, Simon, Mircea, Mueller & Theis (2019), "Single-cell RNA-seq denoising using a deep
count autoencoder", Nature Communications 10:390 (DCA); Amodio et al. (2019), "Exploring
single-cell data with deep multitasking neural networks", Nature Methods 16:1139 (SAUCIE).

The encoder sees log-normalised expression with a random fraction of the entries masked to
zero (denoising); the bottleneck is the embedding. Reconstruction is either

* ``zinb`` (DCA): the decoder gives a count mean ``exp(out) * size_factor`` (clipped as in
  DCA), a gene-wise inverse dispersion and a zero-inflation probability per entry; the loss
  is the ZINB negative log-likelihood of the raw counts; or
* ``mse`` (SAUCIE): mean squared error on the log-normalised expression.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ._vae import count_nll

Reconstruction = Literal["zinb", "mse"]


class Autoencoder(nn.Module):
    """Batch dict: ``xlog`` (log-normalised expression), and for ``zinb`` also ``x`` (raw
    counts) and ``sf`` (size factor, cells x 1)."""

    def __init__(
        self,
        n_genes: int,
        *,
        n_hidden: int = 128,
        n_latent: int = 32,
        mask_rate: float = 0.1,
        reconstruction: Reconstruction = "zinb",
    ) -> None:
        super().__init__()
        self.n_genes, self.n_hidden, self.n_latent = n_genes, n_hidden, n_latent
        self.mask_rate, self.reconstruction = mask_rate, reconstruction
        self.encoder = nn.Sequential(
            nn.Linear(n_genes, n_hidden),
            nn.BatchNorm1d(n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, n_latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_latent, n_hidden),
            nn.BatchNorm1d(n_hidden),
            nn.ReLU(),
        )
        self.out_mean = nn.Linear(n_hidden, n_genes)
        if reconstruction == "zinb":
            self.out_pi = nn.Linear(n_hidden, n_genes)
            self.log_theta = nn.Parameter(torch.zeros(n_genes))
        else:
            self.out_pi, self.log_theta = None, None

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.BatchNorm1d)):
                m.reset_parameters()
        if self.log_theta is not None:
            nn.init.zeros_(self.log_theta)

    def init_output(self, gene_mean: torch.Tensor) -> None:
        """Start the decoder at each gene's mean (``zinb``: mean count per 10^4; ``mse``:
        mean log expression), so that training refines rather than finds the scale."""
        with torch.no_grad():
            if self.reconstruction == "zinb":
                self.out_mean.bias.copy_(torch.log(gene_mean + 1e-4))
            else:
                self.out_mean.bias.copy_(gene_mean)

    def encode(self, xlog: torch.Tensor) -> torch.Tensor:
        if self.training and self.mask_rate > 0:
            keep = torch.rand_like(xlog) >= self.mask_rate
            xlog = xlog * keep
        return self.encoder(xlog)

    def decode(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """``mse``: ``{"xlog": ...}``; ``zinb``: ``{"mean": count mean per unit size
        factor, "theta": ..., "pi": logits}``."""
        h = self.decoder(z)
        out = self.out_mean(h)
        if self.reconstruction == "mse":
            return {"xlog": out}
        return {
            "mean": torch.exp(out.clamp(-12, 13)),
            "theta": torch.exp(self.log_theta.clamp(-10, 10)),
            "pi": self.out_pi(h),
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z = self.encode(batch["xlog"])
        return {"z": z, **self.decode(z)}

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self(batch)
        if self.reconstruction == "mse":
            rec = (out["xlog"] - batch["xlog"]).pow(2).sum(-1).mean()
        else:
            mu = out["mean"] * batch["sf"]
            rec = count_nll(batch["x"], mu, out["theta"], out["pi"]).mean()
        return {"loss": rec, "reconstruction": rec}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_genes={self.n_genes}, n_hidden={self.n_hidden}, "
            f"n_latent={self.n_latent}, reconstruction={self.reconstruction!r})"
        )
