"""The import-free fast paths of the domains run give what the libraries give.

- the one-ring array-grid graph equals squidpy's grid builder (Visium hexagons, square
  bins, a slide with holes, a real slide);
- ``GraphConv`` is torch-geometric's ``GCNConv(normalize=False)``: same parameters, same
  draws from the generator, same outputs and gradients;
- the tied mixture's vectorised E-step gives scikit-learn's numbers bit for bit;
- the training plan's Adam gives ``torch.optim.Adam``'s parameters bit for bit, and a
  ``domain_gcn`` fit trains without importing ``torch._dynamo``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from napari_scdl import datasets
from napari_scdl.graph import (
    _squidpy,
    array_grid_graph,
    build_graph,
    grid_neighbours,
    symmetric_binary,
)


def _squidpy_grid(adata) -> sp.csr_matrix:
    import squidpy as sq

    xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
    conn, _ = _squidpy(sq, xy, coord_type="grid", n_neighs=grid_neighbours(adata), n_rings=1)
    return symmetric_binary(conn)


def _same_edges(a, b) -> bool:
    return a.shape == b.shape and abs(sp.csr_matrix(a) - sp.csr_matrix(b)).nnz == 0


def test_array_grid_equals_squidpy_on_visium_spots_with_holes():
    adata = datasets.synthetic_visium(1500, n_domains=5, seed=1, image=False)
    keep = np.random.default_rng(0).random(adata.n_obs) > 0.2  # spots off the tissue
    adata = adata[keep].copy()
    assert grid_neighbours(adata) == 6
    fast = array_grid_graph(adata)
    assert _same_edges(fast, _squidpy_grid(adata))
    assert _same_edges(build_graph(adata), fast)
    assert np.asarray(fast.sum(1)).max() == 6 and (fast != fast.T).nnz == 0


def test_array_grid_equals_squidpy_on_square_bins():
    adata = datasets.synthetic_sample(2_500, layout="visium_hd", n_genes=20, seed=0)
    assert grid_neighbours(adata) == 4
    assert _same_edges(array_grid_graph(adata), _squidpy_grid(adata))


def test_two_rings_still_come_from_squidpy():
    adata = datasets.synthetic_visium(300, n_domains=3, seed=0, image=False)
    deg = np.asarray(build_graph(adata, n_neighbors=12).sum(1)).ravel()
    assert deg.max() == 18  # 6 + 12: the second ring is there


@pytest.mark.realdata
def test_array_grid_equals_squidpy_on_a_real_slide(dlpfc_adata):
    fast = array_grid_graph(dlpfc_adata)
    assert fast.nnz == 21_124
    assert _same_edges(fast, _squidpy_grid(dlpfc_adata))


def test_graph_conv_is_gcnconv():
    import torch
    from torch_geometric.nn import GCNConv

    from napari_scdl.models.nn._sparse import GraphConv, csr_tensor

    rng = np.random.default_rng(0)
    a = sp.random(60, 60, 0.1, random_state=1)
    adj = csr_tensor(a + a.T + sp.eye(60))
    x = torch.from_numpy(rng.normal(size=(60, 9)).astype(np.float32))
    torch.manual_seed(5)
    ref = GCNConv(9, 4, normalize=False)
    torch.manual_seed(5)
    ours = GraphConv(9, 4)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k])
    with torch.no_grad():  # a non-zero bias, so that it is tested too
        ref.bias.fill_(0.3)
        ours.bias.fill_(0.3)
    out_ref, out = ref(x, adj), ours(x, adj)
    assert torch.allclose(out, out_ref, atol=1e-6)
    out_ref.square().sum().backward()
    out.square().sum().backward()
    assert torch.allclose(ours.lin.weight.grad, ref.lin.weight.grad, atol=1e-5)


def test_domain_gcn_net_does_not_import_torch_geometric():
    import subprocess
    import sys

    code = (
        "import sys; import napari_scdl.models.nn._gcn; "
        "sys.exit(int('torch_geometric' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("n, d, k", [(3639, 20, 7), (300, 5, 3), (5000, 12, 12)])
def test_tied_mixture_is_sklearn_bit_for_bit(n, d, k):
    from sklearn.mixture import GaussianMixture

    from napari_scdl.clustering import tied_mixture_class

    rng = np.random.default_rng(n)
    x = np.concatenate([rng.normal(0.4 * i, 1.0, size=(n // k, d)) for i in range(k)])
    kw = dict(covariance_type="tied", reg_covar=1e-4, max_iter=300, random_state=1)
    ref = GaussianMixture(k, **kw).fit(x)
    ours = tied_mixture_class()(k, **kw).fit(x)
    assert ours.n_iter_ == ref.n_iter_ and ours.lower_bound_ == ref.lower_bound_
    assert np.array_equal(ours.predict_proba(x), ref.predict_proba(x))


def test_cli_main_called_from_python_leaves_the_collector_alone(tmp_path):
    import gc

    from napari_scdl.cli import main

    before = gc.get_threshold()
    assert main(["models"]) == 0
    assert gc.get_threshold() == before


@pytest.mark.parametrize("weight_decay", [0.0, 1e-4])
def test_adam_is_torch_adam_bit_for_bit(weight_decay):
    import torch

    from napari_scdl.models._optim import Adam

    def net():
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.ELU(), torch.nn.Linear(8, 3))
        m[2].bias.requires_grad_(False)  # a frozen parameter is skipped by both
        return m

    x = torch.randn(64, 12, generator=torch.Generator().manual_seed(1))
    ref_net, our_net = net(), net()
    ref = torch.optim.Adam(ref_net.parameters(), lr=1e-2, weight_decay=weight_decay)
    ours = Adam(our_net.parameters(), lr=1e-2, weight_decay=weight_decay)
    for step in range(300):
        for m, opt in ((ref_net, ref), (our_net, ours)):
            opt.zero_grad(set_to_none=True)
            m(x).square().mean().backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
            if step % 7 == 3:  # a step where one parameter has no gradient
                m[0].bias.grad = None
            opt.step()
    for a, b in zip(ref_net.parameters(), our_net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_domain_gcn_trains_without_torch_dynamo():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from napari_scdl import datasets\n"
        "from napari_scdl.tl import domains\n"
        "a = datasets.synthetic_visium(300, n_domains=3, seed=0, image=False)\n"
        "domains(a, n_domains=3, epochs=5, n_networks=1)\n"
        "assert 'domain' in a.obs\n"
        "sys.exit(int('torch._dynamo' in sys.modules))\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
