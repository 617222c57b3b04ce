"""The scGNN-like imputation model ``gnn_impute`` on tiny synthetic slides."""

from __future__ import annotations

import model_checks as mc
from model_checks import one_thread  # noqa: F401 (autouse fixture)

NAME = "gnn_impute"
FAST = dict(n_clusters=3, n_latent=4, feature_epochs=10, graph_epochs=10, n_neighbors=5, lr=1e-2)


def test_fit_and_write():
    mc.check_fit_and_write(NAME, FAST)


def test_same_seed_same_result():
    mc.check_same_seed_same_result(NAME, FAST)


def test_save_load_and_apply_to_second_slide(tmp_path):
    mc.check_save_load_and_second_slide(NAME, FAST, tmp_path)
