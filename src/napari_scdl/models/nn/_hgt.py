"""A heterogeneous graph transformer over spots and genes (after DeepMAPS).

Ma et al. (2023), "Biological network inference from single-cell multi-omics data using
heterogeneous graph transformer", Nature Communications 14:535 (DeepMAPS); Hu et al.
(2020), "Heterogeneous graph transformer", WWW 2020 (HGT).

Two node types, ``spot`` and ``gene``; three edge types: ``gene -> spot`` (the spot
expresses the gene above its mean), ``spot -> gene`` (the same edges reversed) and
``spot -> spot`` (spatial neighbours). Node embeddings come from torch-geometric's
:class:`~torch_geometric.nn.HGTConv` layers; training is self-supervised edge
reconstruction (observed spot-gene edges against random pairs, positives weighted by
expression). The attention each spot pays to its genes in the last layer is what
DeepMAPS ranks genes by; :meth:`GeneProgramHGT.attention` returns it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import HGTConv

GENE_TO_SPOT = ("gene", "in", "spot")
SPOT_TO_GENE = ("spot", "has", "gene")
SPOT_TO_SPOT = ("spot", "near", "spot")
METADATA = (["spot", "gene"], [GENE_TO_SPOT, SPOT_TO_GENE, SPOT_TO_SPOT])


class _AttentionHGTConv(HGTConv):
    """HGTConv that keeps the attention of its last call (``alpha``: edges x heads, in the
    order of the edge types given to ``forward``) when ``keep_attention`` is set."""

    keep_attention = False

    def message(self, k_j, q_i, v_j, edge_attr, index, ptr, size_i):
        import math

        from torch_geometric.utils import softmax

        alpha = (q_i * k_j).sum(dim=-1) * edge_attr / math.sqrt(q_i.size(-1))
        alpha = softmax(alpha, index, ptr, size_i)
        if self.keep_attention:
            self.alpha = alpha.detach()
        return (v_j * alpha.view(-1, self.heads, 1)).view(-1, self.out_channels)


class GeneProgramHGT(nn.Module):
    """Batch dict: ``x_spot``, ``x_gene`` (node features), ``edges`` (edge type ->
    ``[2, E]``), ``pos`` (spot, gene pairs to reconstruct), ``weight`` (their weights),
    ``neg`` (random pairs)."""

    def __init__(self, n_spot_features: int, n_gene_features: int, *, n_hidden: int = 64,
                 n_heads: int = 4, n_layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.n_hidden, self.n_heads, self.n_layers = n_hidden, n_heads, n_layers
        self.inp = nn.ModuleDict({"spot": nn.Linear(n_spot_features, n_hidden),
                                  "gene": nn.Linear(n_gene_features, n_hidden)})
        self.convs = nn.ModuleList(
            [_AttentionHGTConv(n_hidden, n_hidden, METADATA, heads=n_heads) for _ in range(n_layers)]
        )
        self.dropout = dropout

    def reset_parameters(self) -> None:
        for lin in self.inp.values():
            lin.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        h = {t: F.gelu(self.inp[t](batch[f"x_{t}"])) for t in ("spot", "gene")}
        for conv in self.convs:
            h = {t: F.dropout(v, self.dropout, self.training) for t, v in h.items()}
            out = conv(h, batch["edges"])
            h = {t: out.get(t, h[t]) if out.get(t) is not None else h[t] for t in h}
        return h

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        h = self(batch)
        pos = (h["spot"][batch["pos"][0]] * h["gene"][batch["pos"][1]]).sum(-1)
        neg = (h["spot"][batch["neg"][0]] * h["gene"][batch["neg"][1]]).sum(-1)
        w = batch["weight"]
        lp = (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction="none")
              * w).sum() / w.sum()
        ln = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        loss = lp + ln
        return {"loss": loss, "positive": lp, "negative": ln}

    @torch.no_grad()
    def attention(self, batch: dict) -> torch.Tensor:
        """Attention of the last layer on each ``gene -> spot`` edge (mean over heads), in
        the order of ``batch['edges'][GENE_TO_SPOT]``."""
        was = self.training
        self.eval()
        last = self.convs[-1]
        last.keep_attention = True
        try:
            self(batch)
            n = batch["edges"][GENE_TO_SPOT].shape[1]
            offset = 0
            for et in batch["edges"]:  # HGTConv concatenates edge types in this order
                if et == GENE_TO_SPOT:
                    break
                offset += batch["edges"][et].shape[1]
            alpha = last.alpha[offset:offset + n].mean(-1)
        finally:
            last.keep_attention = False
            last.alpha = None
            self.train(was)
        return alpha

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_hidden={self.n_hidden}, n_heads={self.n_heads}, "
                f"n_layers={self.n_layers})")
