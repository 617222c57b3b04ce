"""A variational autoencoder with a count likelihood (after scVI).

Lopez, Regier, Cole, Jordan & Yosef (2018), "Deep generative modeling for single-cell
transcriptomics", Nature Methods 15:1053. The encoder maps ``log1p(counts)`` to a Gaussian
latent ``z``; the decoder maps ``z`` (and an optional batch one-hot) to gene proportions
``rho`` (softmax); the count mean is ``rho * library`` with the *observed* library size, and
the counts follow a negative binomial (NB) or zero-inflated NB (ZINB) with a gene-wise
inverse dispersion ``theta``. Loss: reconstruction NLL + ``kl_weight`` * KL(q(z|x) || N(0, I)),
the KL weight warmed up from 0 to 1 by the training plan.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Likelihood = Literal["nb", "zinb"]

_EPS = 1e-8


def log_nb_positive(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Log-likelihood of counts ``x`` under NB(mean ``mu``, inverse dispersion ``theta``)."""
    log_theta_mu = torch.log(theta + mu + _EPS)
    return (
        theta * (torch.log(theta + _EPS) - log_theta_mu)
        + x * (torch.log(mu + _EPS) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )


def log_zinb_positive(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, pi_logits: torch.Tensor
) -> torch.Tensor:
    """Log-likelihood of counts ``x`` under a zero-inflated NB; ``pi_logits`` are the logits
    of the extra zero (dropout) probability (scvi-tools' numerically stable form)."""
    softplus_pi = F.softplus(-pi_logits)
    log_theta = torch.log(theta + _EPS)
    log_theta_mu = torch.log(theta + mu + _EPS)
    pi_theta_log = -pi_logits + theta * (log_theta - log_theta_mu)
    case_zero = F.softplus(pi_theta_log) - softplus_pi
    case_non_zero = (
        -softplus_pi
        + pi_theta_log
        + x * (torch.log(mu + _EPS) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )
    return torch.where(x < _EPS, case_zero, case_non_zero)


def count_nll(
    x: torch.Tensor,
    mu: torch.Tensor,
    theta: torch.Tensor,
    pi_logits: torch.Tensor | None,
) -> torch.Tensor:
    """Negative log-likelihood per cell (summed over genes): NB, or ZINB when ``pi_logits``.

    Equal to ``-log_{nb,zinb}_positive(...).sum(-1)`` but the ``lgamma`` terms, which
    vanish where ``x == 0``, are computed on the non-zero counts only (most of them are
    zero), which makes the loss several times faster on spot data.
    """
    theta = theta.expand_as(mu)
    log_theta_mu = torch.log(theta + mu + _EPS)
    nb_zero = theta * (torch.log(theta + _EPS) - log_theta_mu)  # log NB(0)
    x_term = x * (torch.log(mu + _EPS) - log_theta_mu)
    if pi_logits is None:
        dense = nb_zero + x_term
    else:
        pi_theta_log = -pi_logits + nb_zero
        nonzero = x > _EPS
        dense = (
            torch.where(nonzero, pi_theta_log, F.softplus(pi_theta_log))
            - F.softplus(-pi_logits)
            + x_term
        )
    rows, cols = torch.nonzero(x > _EPS, as_tuple=True)
    xv, tv = x[rows, cols], theta[rows, cols]
    lg = torch.lgamma(xv + tv) - torch.lgamma(tv) - torch.lgamma(xv + 1)
    ll = dense.sum(-1).index_add(0, rows, lg)
    return -ll


def _mlp(n_in: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, n_out),
        nn.BatchNorm1d(n_out, momentum=0.01, eps=1e-3),
        nn.ReLU(),
        nn.Dropout(dropout),
    )


class VAE(nn.Module):
    """scVI-like VAE. ``forward`` and ``loss`` take a batch dict with ``x`` (counts,
    cells x genes), ``lib`` (observed library size, cells x 1) and optionally ``cov``
    (batch one-hot, cells x n_batches)."""

    def __init__(
        self,
        n_genes: int,
        *,
        n_batches: int = 0,
        n_hidden: int = 128,
        n_latent: int = 10,
        dropout: float = 0.1,
        likelihood: Likelihood = "zinb",
    ) -> None:
        super().__init__()
        self.n_genes, self.n_batches = n_genes, n_batches
        self.n_hidden, self.n_latent, self.likelihood = n_hidden, n_latent, likelihood
        self.encoder = _mlp(n_genes, n_hidden, dropout)
        self.z_mean = nn.Linear(n_hidden, n_latent)
        self.z_logvar = nn.Linear(n_hidden, n_latent)
        self.decoder = _mlp(n_latent + n_batches, n_hidden, 0.0)
        self.px_scale = nn.Linear(n_hidden + n_batches, n_genes)
        self.px_dropout = nn.Linear(n_hidden + n_batches, n_genes) if likelihood == "zinb" else None
        self.px_r = nn.Parameter(torch.zeros(n_genes))

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.BatchNorm1d)):
                m.reset_parameters()
        nn.init.zeros_(self.px_r)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(z | x)."""
        h = self.encoder(torch.log1p(x))
        return self.z_mean(h), torch.exp(self.z_logvar(h).clamp(-15, 15)) + 1e-4

    def decode(self, z: torch.Tensor, lib: torch.Tensor, cov: torch.Tensor | None = None):
        """``(rho, mu, theta, pi_logits)``: proportions, NB mean, inverse dispersion and
        zero-inflation logits (None for NB)."""
        if self.n_batches:
            z = torch.cat([z, cov], -1)
        h = self.decoder(z)
        if self.n_batches:
            h = torch.cat([h, cov], -1)
        rho = torch.softmax(self.px_scale(h), -1)
        pi = self.px_dropout(h) if self.px_dropout is not None else None
        return rho, rho * lib, torch.exp(self.px_r), pi

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        qm, qv = self.encode(batch["x"])
        z = qm + qv.sqrt() * torch.randn_like(qm) if self.training else qm
        rho, mu, theta, pi = self.decode(z, batch["lib"], batch.get("cov"))
        return {"qm": qm, "qv": qv, "z": z, "rho": rho, "mu": mu, "theta": theta, "pi": pi}

    def loss(
        self, batch: dict[str, torch.Tensor], kl_weight: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """Negative ELBO per cell (mean over the batch), with the KL term weighted."""
        out = self(batch)
        rec = count_nll(batch["x"], out["mu"], out["theta"], out["pi"]).mean()
        qm, qv = out["qm"], out["qv"]
        kl = 0.5 * (qv + qm.pow(2) - 1 - torch.log(qv)).sum(-1).mean()
        return {"loss": rec + kl_weight * kl, "reconstruction": rec, "kl": kl}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_genes={self.n_genes}, n_batches={self.n_batches}, "
            f"n_hidden={self.n_hidden}, n_latent={self.n_latent}, likelihood={self.likelihood!r})"
        )
