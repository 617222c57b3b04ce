"""Sparse graph tensors and the propagation ``adj @ h`` shared by the graph networks."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


def csr_tensor(m: sp.spmatrix, device: str = "cpu") -> Tensor:
    """A scipy sparse matrix as a float32 ``torch.sparse_csr`` tensor on ``device``."""
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sort_indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": mm is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)),
            torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data),
            size=m.shape,
            device=device,
        )


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ h`` whose backward is ``adj @ grad`` (``adj`` symmetric): no transpose of the
    sparse matrix at every step, which is what makes torch's own backward slow on CPU
    (4.3x per training step of the APPNP classifier at 3,639 spots and 40 hops)."""

    @staticmethod
    def forward(ctx, adj: Tensor, h: Tensor) -> Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, h)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, torch.sparse.mm(ctx.adj, grad)


def propagate(adj: Tensor, h: Tensor) -> Tensor:
    """``adj @ h`` for a sparse, symmetric ``adj`` (a graph convolution's aggregation)."""
    return _SymmetricSpMM.apply(adj, h)


class GraphConv(torch.nn.Module):
    """One graph convolution ``adj @ (h W') + b`` on a prepared sparse adjacency (already
    normalised, symmetric): torch-geometric's ``GCNConv(normalize=False)`` on a sparse
    adjacency, with the same parameters (``lin.weight``, ``bias``: saved models load
    either way), the same initialisation (Glorot-uniform weights, zero bias; the same
    draws from the random generator) and the same outputs.

    Written out because importing torch-geometric pulls in ``torch._dynamo``: 2-3 s of
    the 12 s a Visium slide's ``domains`` run may take, for a layer that is one sparse
    product. The other networks (GAT, HGT, GNN imputation) use torch-geometric's layers.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = n_in, n_out
        self.lin = torch.nn.Linear(n_in, n_out, bias=False)
        self.bias = torch.nn.Parameter(torch.empty(n_out))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = (6.0 / (self.in_channels + self.out_channels)) ** 0.5
        with torch.no_grad():
            self.lin.weight.uniform_(-bound, bound)
            self.bias.zero_()

    def forward(self, h: Tensor, adj: Tensor) -> Tensor:
        return propagate(adj, self.lin(h)) + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"
