"""Graph-convolutional autoencoder with a local contrastive (deep graph infomax) head.

Tensors in, tensors out: the spot graph is a sparse, normalised adjacency
(``torch.sparse_csr`` tensor, ``D^-1/2 (A + I) D^-1/2`` computed once) passed to
:class:`~napari_scdl.models.nn._sparse.GraphConv` layers (torch-geometric's ``GCNConv``
with ``normalize=False``, written out to keep torch-geometric's import off this model's
path), so every propagation is a sparse matmul and memory grows with the number of
edges, never with n x n.

Follows GraphST (Long et al. 2023, Nat. Commun. 14:1155): a GCN encoder trained to
reconstruct its input through a GCN decoder, plus a deep-graph-infomax loss (Velickovic
et al. 2019, ICLR) that tells each spot's (ReLU-activated) embedding apart from the
embedding of feature-shuffled (corrupted) spots, given the mean embedding of its
neighbourhood. As in GraphST, the encoder is by default one linear graph convolution, so
the reconstruction sees two hops of the graph; ``n_hidden > 0`` adds a hidden ELU layer
(a third hop).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._sparse import GraphConv, propagate


class DomainGCN(nn.Module):
    """GCN encoder -> latent ``z`` -> GCN decoder, with a bilinear DGI discriminator.

    Parameters
    ----------
    n_input
        Input features per spot (e.g. expression PCs, optionally with image features).
    n_hidden
        Width of a hidden ELU layer of the encoder; 0 (default): none, the encoder is one
        linear graph convolution as in GraphST.
    n_latent
        Width of the embedding.
    dropout
        Dropout on the input features during training.
    """

    def __init__(
        self, n_input: int, *, n_hidden: int = 0, n_latent: int = 64, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.n_input, self.n_hidden, self.n_latent = n_input, n_hidden, n_latent
        self.dropout = dropout
        # the adjacency comes normalised (and is reused every step)
        self.enc1 = GraphConv(n_input, n_hidden or n_latent)
        self.enc2 = GraphConv(n_hidden, n_latent) if n_hidden else None
        self.dec = GraphConv(n_latent, n_input)
        self.disc = nn.Parameter(torch.empty(n_latent, n_latent))  # bilinear discriminator
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in (self.enc1, self.enc2, self.dec):
            if conv is not None:
                conv.reset_parameters()  # glorot weights, zero bias
        nn.init.xavier_uniform_(self.disc)

    # -- forward ----------------------------------------------------------------------
    def encode(self, x: Tensor, adj: Tensor) -> Tensor:
        """Embedding ``z`` (n x n_latent) of features ``x`` on graph ``adj``."""
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        z = self.enc1(x, adj)
        return z if self.enc2 is None else self.enc2(F.elu(z), adj)

    def decode(self, z: Tensor, adj: Tensor) -> Tensor:
        """Reconstruction of the input features from ``z``."""
        return self.dec(z, adj)

    def forward(self, x: Tensor, adj: Tensor) -> tuple[Tensor, Tensor]:
        z = self.encode(x, adj)
        return z, self.decode(z, adj)

    @property
    def is_linear(self) -> bool:
        """One linear graph convolution in the encoder (the default): then the whole
        reconstruction is linear in the twice-propagated input."""
        return self.enc2 is None

    def decode_propagated(self, a2x: Tensor, deg: Tensor) -> Tensor:
        """The reconstruction of :meth:`forward` for a linear encoder, from ``a2x = Â Â x``
        and ``deg = Â 1`` computed once: ``Â((Âx W1 + b1) W2) + b2 = a2x W1 W2 + deg (b1
        W2) + b2``, the same function without a sparse product per step (about 3x faster
        training on a Visium slide on 2 CPU cores)."""
        w1, w2 = self.enc1.lin.weight, self.dec.lin.weight  # (out, in), as nn.Linear
        return (a2x @ w1.T) @ w2.T + deg[:, None] * (self.enc1.bias @ w2.T) + self.dec.bias

    def gram_loss(self, gram: dict[str, Tensor]) -> Tensor:
        """The reconstruction loss of :meth:`decode_propagated` from second moments alone:
        with ``Z = [Â Â x, Â 1, 1]`` and the reconstruction ``Z Θ`` (``Θ`` stacks ``W1 W2``,
        ``b1 W2`` and ``b2``), ``mean((x - Z Θ)^2) = (s - 2 <Θ, C> + <Θ, G Θ>) / d`` with
        ``G = Z'Z / n``, ``C = Z'x / n``, ``s = |x|^2 / n`` computed once (float64, from
        :func:`gram_statistics`). The same function and gradients as the mean squared error
        of :meth:`decode_propagated`, at a cost per step that does not grow with the number
        of spots (a 1M-spot slide trains in seconds)."""
        w1, w2 = self.enc1.lin.weight, self.dec.lin.weight
        theta = torch.cat(
            [(w2 @ w1).T, (self.enc1.bias @ w2.T)[None], self.dec.bias[None]]
        ).double()
        G, C, s = gram["G"], gram["C"], gram["s"]
        d = C.shape[1]
        return ((s - 2 * (theta * C).sum() + (theta * (G @ theta)).sum()) / d).float()

    # -- losses -------------------------------------------------------------------------
    @staticmethod
    def reconstruction_loss(x: Tensor, x_hat: Tensor) -> Tensor:
        """Mean squared error of the reconstruction."""
        return F.mse_loss(x_hat, x)

    def score(self, z: Tensor, summary: Tensor) -> Tensor:
        """Bilinear discriminator logits ``z_i^T W s_i``."""
        return ((z @ self.disc) * summary).sum(1)

    def contrastive_loss(self, z: Tensor, z_corrupt: Tensor, readout: Tensor) -> Tensor:
        """Local DGI loss on ReLU-activated embeddings: each spot's neighbourhood summary
        must score its own embedding above the corrupted one (and symmetrically for the
        corrupted graph's summary). ``readout`` is the (symmetric) neighbourhood-sum matrix
        ``A + I``: the summary is L2-normalised, so a sum and a mean give the same
        summary."""
        z, z_corrupt = F.relu(z), F.relu(z_corrupt)
        s = torch.sigmoid(F.normalize(propagate(readout, z), dim=1))
        s_c = torch.sigmoid(F.normalize(propagate(readout, z_corrupt), dim=1))
        ones, zeros = torch.ones_like(z[:, 0]), torch.zeros_like(z[:, 0])
        bce = F.binary_cross_entropy_with_logits
        loss = bce(self.score(z, s), ones) + bce(self.score(z_corrupt, s), zeros)
        loss_c = bce(self.score(z_corrupt, s_c), ones) + bce(self.score(z, s_c), zeros)
        return 0.5 * (loss + loss_c)

    def loss(self, batch: dict[str, Tensor], *, w_rec: float = 1.0, w_dgi: float = 1.0) -> dict:
        """Training loss on a full-graph batch ``{x, adj, readout, perm}`` (and optionally
        ``a2x``, ``deg`` for :meth:`decode_propagated`, used when it gives the same loss).

        ``perm`` is a permutation of the spots: the corrupted graph keeps the edges and
        moves the features (DGI corruption).
        """
        x, adj = batch["x"], batch["adj"]
        fast = w_dgi <= 0 and self.is_linear and not (self.training and self.dropout > 0)
        if "gram" in batch and fast:
            rec = self.gram_loss(batch["gram"])
            return {"reconstruction": rec, "loss": w_rec * rec}
        if "a2x" in batch and w_dgi <= 0 and self.is_linear and not (
            self.training and self.dropout > 0
        ):
            rec = self.reconstruction_loss(x, self.decode_propagated(batch["a2x"], batch["deg"]))
            return {"reconstruction": rec, "loss": w_rec * rec}
        z, x_hat = self(x, adj)
        rec = self.reconstruction_loss(x, x_hat)
        out = {"reconstruction": rec}
        total = w_rec * rec
        if w_dgi > 0:
            z_c = self.encode(x[batch["perm"]], adj)
            dgi = self.contrastive_loss(z, z_c, batch["readout"])
            total = total + w_dgi * dgi
            out["contrastive"] = dgi
        out["loss"] = total
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_input={self.n_input}, n_hidden={self.n_hidden}, "
            f"n_latent={self.n_latent}, dropout={self.dropout})"
        )


def gram_statistics(a2x: Tensor, deg: Tensor, x: Tensor, chunk: int = 262_144) -> dict:
    """``G = Z'Z / n``, ``C = Z'x / n`` and ``s = |x|^2 / n`` (float64) of ``Z = [a2x, deg,
    1]``, in row chunks (for :meth:`DomainGCN.gram_loss`)."""
    n, d = x.shape
    G = torch.zeros(d + 2, d + 2, dtype=torch.float64, device=x.device)
    C = torch.zeros(d + 2, d, dtype=torch.float64, device=x.device)
    s = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, n, chunk):
        a, xi = a2x[i: i + chunk].double(), x[i: i + chunk].double()
        z = torch.cat([a, deg[i: i + chunk, None].double(), torch.ones_like(a[:, :1])], 1)
        G += z.T @ z
        C += z.T @ xi
        s += (xi * xi).sum()
    return {"G": G / n, "C": C / n, "s": s / n}
