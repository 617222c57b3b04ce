"""Domain-adversarial label transfer network (Ganin et al. 2016, JMLR, "Domain-Adversarial
Training of Neural Networks"; the CellDART set-up of Bae et al. 2022 for spots).

A shared encoder maps expression (genes standardised per data set) to a small embedding;
a classifier head predicts the reference label (or label proportions); a discriminator
behind a gradient-reversal layer tries to tell reference from query, which pushes the
encoder towards an embedding where platform differences do not dominate.
"""

from __future__ import annotations

import torch
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.weight * grad, None


def grad_reverse(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity forward; gradient multiplied by ``-weight`` backward."""
    return _GradReverse.apply(x, float(weight))


class TransferNet(nn.Module):
    """Encoder + classifier + domain discriminator.

    ``loss(batch, adv_weight=...)``: ``batch`` holds ``x_ref`` (reference rows), ``y_ref``
    (soft targets, rows sum to 1) and ``x_query`` (unlabelled query rows).
    """

    def __init__(
        self, n_input: int, n_classes: int, *, n_hidden: int = 256, n_latent: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(n_input, n_hidden),
            nn.LayerNorm(n_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(n_hidden, n_latent),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(n_latent, n_classes)
        self.discriminator = nn.Sequential(
            nn.Linear(n_latent, n_latent), nn.ReLU(), nn.Linear(n_latent, 1)
        )

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.classifier(self.encoder(x))

    def classification_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -(target * logits.log_softmax(1)).sum(1).mean()

    def domain_loss(self, z_ref: torch.Tensor, z_query: torch.Tensor, weight: float):
        z = grad_reverse(torch.cat([z_ref, z_query]), weight)
        d = self.discriminator(z).squeeze(1)
        target = torch.cat([torch.zeros(len(z_ref)), torch.ones(len(z_query))]).to(d)
        return nn.functional.binary_cross_entropy_with_logits(d, target)

    def loss(self, batch: dict, adv_weight: float = 1.0) -> dict:
        z_ref = self.encoder(batch["x_ref"])
        cls = self.classification_loss(self.classifier(z_ref), batch["y_ref"])
        out = {"classification": cls}
        if adv_weight > 0 and "x_query" in batch:
            dom = self.domain_loss(z_ref, self.encoder(batch["x_query"]), adv_weight)
            out["domain"] = dom
            out["loss"] = cls + dom
        else:
            out["loss"] = cls
        return out

    def __repr__(self) -> str:
        lin = self.encoder[1]
        return (
            f"TransferNet({lin.in_features} -> {lin.out_features} -> "
            f"{self.classifier.in_features} -> {self.classifier.out_features})"
        )
