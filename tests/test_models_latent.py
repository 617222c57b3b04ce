"""The latent-space models (``vae``, ``autoencoder``, ``stagate``, ``gnn_impute``) on tiny
synthetic slides: each passes the same checks of :mod:`model_checks`."""

from __future__ import annotations

import model_checks as mc
import pytest
from model_checks import one_thread  # noqa: F401 (autouse fixture)

#: fast parameters of each model (a few epochs, small networks)
FAST = {
    "vae": dict(n_clusters=3, n_latent=4, n_hidden=32, epochs=15, batch_size=64, lr=1e-2),
    "autoencoder": dict(n_clusters=3, n_latent=4, n_hidden=32, epochs=15, batch_size=64, lr=1e-2),
    "stagate": dict(n_clusters=3, n_latent=4, n_hidden=32, n_pcs=10, epochs=40, lr=1e-2),
    "gnn_impute": dict(
        n_clusters=3, n_latent=4, feature_epochs=10, graph_epochs=10, n_neighbors=5, lr=1e-2
    ),
}
models = pytest.mark.parametrize("name", list(FAST))


@models
def test_fit_and_write(name):
    mc.check_fit_and_write(name, FAST[name])


@models
def test_same_seed_same_result(name):
    mc.check_same_seed_same_result(name, FAST[name])


@models
def test_save_load_and_apply_to_second_slide(name, tmp_path):
    mc.check_save_load_and_second_slide(name, FAST[name], tmp_path)


def test_stagate_genes_as_input():
    """``n_pcs=0``: STAGATE's own input, the genes themselves."""
    mc.check_fit_and_write("stagate", FAST["stagate"] | {"n_pcs": 0})
