"""The DCA/SAUCIE-like autoencoder model ``autoencoder`` on tiny synthetic slides."""

from __future__ import annotations

import model_checks as mc
from model_checks import one_thread  # noqa: F401 (autouse fixture)

NAME = "autoencoder"
FAST = dict(n_clusters=3, n_latent=4, n_hidden=32, epochs=15, batch_size=64, lr=1e-2)


def test_fit_and_write():
    mc.check_fit_and_write(NAME, FAST)


def test_same_seed_same_result():
    mc.check_same_seed_same_result(NAME, FAST)


def test_save_load_and_apply_to_second_slide(tmp_path):
    mc.check_save_load_and_second_slide(NAME, FAST, tmp_path)
