"""The "Models" dock widget: a form from the registry, Run/Cancel, clusters on the tissue."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_scdl.models import BaseModel, Param, Progress

LEFT = Qt.MouseButton.LeftButton
WAIT = 60_000


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    from napari_scdl._qt.launch import add_sample
    from napari_scdl._qt.models.widget import ModelsWidget
    from napari_scdl.datasets import synthetic_visium

    viewer = make_napari_viewer()
    add_sample(viewer, synthetic_visium(300, n_domains=3, n_genes=80, seed=0))
    widget = ModelsWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    return viewer, widget


def _choose(widget, name):
    widget.chooser.setCurrentIndex(widget.chooser.findData(name))


def _n_colors(layer) -> int:
    return len(np.unique(np.round(np.asarray(layer.face_color), 3), axis=0))


def _result_layers(viewer, key):
    return [
        ly
        for ly in viewer.layers
        if ly.metadata.get("scdl_role") == "result" and ly.metadata.get("key") == key
    ]


def test_run_model_writes_and_colours(viewer_and_widget, qtbot, tmp_path):
    viewer, widget = viewer_and_widget
    adata = widget.sample.adata
    _choose(widget, "vae")
    assert widget.run_opts.key_added.value == "vae"
    widget.form.epochs.value = 3
    widget.form.n_top_genes.value = 60
    widget.form.n_clusters.value = 3
    qtbot.mouseClick(widget.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)

    assert adata.obsm["X_vae"].shape[0] == adata.n_obs
    assert "vae_imputed" in adata.layers
    assert list(adata.obs["vae"].cat.categories) == ["0", "1", "2"]
    assert adata.uns["vae"]["params"]["epochs"] == 3
    (layer,) = _result_layers(viewer, "vae")
    assert _n_colors(layer) == 3 and layer.visible
    assert len(widget.legend.rows()) == 3
    assert "obsm['X_vae']" in widget.summary.text()
    assert widget.clusters.opts.embedding.value == "X_vae"

    # cluster the embedding again, differently, and show it the same way
    widget.clusters.opts.n_clusters.value = 4
    widget.clusters.opts.method.value = "kmeans"
    assert widget.clusters.opts.key_added.value == "vae_clusters"
    qtbot.mouseClick(widget.clusters.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not widget.clusters.runner.running, timeout=WAIT)
    assert adata.obs["vae_clusters"].nunique() == 4
    (layer,) = _result_layers(viewer, "vae_clusters")
    assert _n_colors(layer) == 4
    assert len(widget.legend.rows()) == 4

    # save, then apply to a second slide with the same genes
    path = widget.save_model(tmp_path / "vae.pt")
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.datasets import synthetic_visium

    add_sample(viewer, synthetic_visium(250, n_domains=3, n_genes=80, seed=3, library_id="second"))
    widget.sample.setCurrentIndex(1)
    second = widget.sample.adata
    assert second is not adata
    widget.run_opts.key_added.value = "vae_applied"
    widget.load_and_apply(path)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)
    assert second.obsm["X_vae_applied"].shape == (250, adata.obsm["X_vae"].shape[1])
    assert second.obs["vae_applied"].nunique() <= 3
    assert second.uns["vae_applied"]["transferred"]
    assert "vae_applied" not in adata.obs
    assert _result_layers(viewer, "vae_applied")


def test_cancel_leaves_adata_unchanged(viewer_and_widget, qtbot):
    _, widget = viewer_and_widget
    adata = widget.sample.adata
    before = (set(adata.obs), set(adata.obsm), set(adata.uns), set(adata.layers))
    _choose(widget, "vae")
    widget.form.epochs.value = 5000
    widget.form.n_top_genes.value = 60
    qtbot.mouseClick(widget.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: widget.runner._last is not None, timeout=WAIT)
    qtbot.mouseClick(widget.runner.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)
    qtbot.waitUntil(lambda: not type(widget.runner)._abandoned, timeout=WAIT)  # it stopped
    assert "cancelled" in widget.runner.status.text()
    assert (set(adata.obs), set(adata.obsm), set(adata.uns), set(adata.layers)) == before
    assert not widget.save_button.isEnabled()


def test_setup_problem_is_a_plain_message(viewer_and_widget, qtbot):
    _, widget = viewer_and_widget
    _choose(widget, "vae")
    widget.form.n_clusters.value = 5000
    qtbot.mouseClick(widget.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)
    assert "n_clusters=5000" in widget.runner.status.text()
    assert "Traceback" not in widget.runner.status.text()
    assert "vae" not in widget.sample.adata.obs


class _DummyModel(BaseModel):
    """A model registered only by this test: the widget must build its form unaided."""

    name = "dummy_gui_test"
    description = "groups spots round-robin (test only)"
    citation = "nobody (2025)"
    default_key = "dummy"
    params = (
        Param("n_groups", 2, "how many groups", min=1, max=9),
        Param("shift", 0.5, "added to the embedding", min=0.0, max=2.0),
        Param("mode", "a", "a or b", choices=("a", "b")),
        Param("flag", False, "a switch"),
        Param("hidden", 1, "not in the form", gui=False),
    )

    def setup(self, adata):
        self._n = adata.n_obs
        self.var_names = list(adata.var_names)

    def _fit_iter(self):
        yield Progress(1, 1, "dummy epoch")
        self.module = None

    def get_labels(self):
        return np.arange(self._n) % self.hparams["n_groups"]

    def get_latent(self):
        return np.full((self._n, 2), self.hparams["shift"], dtype=np.float32)


def test_registered_model_gets_a_form_without_gui_code(viewer_and_widget, qtbot, monkeypatch):
    from napari_scdl import models

    models.list_models()
    monkeypatch.setitem(models._REGISTRY, _DummyModel.name, _DummyModel)
    viewer, widget = viewer_and_widget
    widget.refresh_models()
    idx = widget.chooser.findData("dummy_gui_test")
    assert idx >= 0
    assert widget.chooser.itemData(idx, Qt.ItemDataRole.ToolTipRole) == _DummyModel.description
    _choose(widget, "dummy_gui_test")
    assert [w.name for w in widget.form] == ["n_groups", "shift", "mode", "flag"]
    assert "nobody (2025)" in widget.about.text()
    assert widget.run_opts.key_added.value == "dummy"
    widget.form.n_groups.value = 3
    widget.form.mode.value = "b"
    widget.form.shift.value = 1.5
    qtbot.mouseClick(widget.runner.run_button, LEFT)
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)
    adata = widget.sample.adata
    assert adata.obs["dummy"].nunique() == 3
    assert adata.uns["dummy"]["params"]["mode"] == "b"
    np.testing.assert_allclose(adata.obsm["X_dummy"], 1.5)
    (layer,) = _result_layers(viewer, "dummy")
    assert _n_colors(layer) == 3
    # switching back rebuilds the form for the other model
    _choose(widget, "vae")
    assert "likelihood" in [w.name for w in widget.form]


def test_apply_saved_domain_model_to_second_slide(viewer_and_widget, qtbot, tmp_path):
    """A domain model trained on one slide, loaded from file in the Models panel, colours a
    second slide by the domains it learned."""
    from sklearn.metrics import adjusted_rand_score

    from napari_scdl._qt.launch import add_sample
    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.tl import domains

    viewer, widget = viewer_and_widget
    first = widget.sample.adata
    fast = {"epochs": 40, "lr": 1e-2, "n_top_genes": 60, "n_pcs": 15, "n_latent": 8}
    path = domains(first, n_domains=3, seed=0, device="cpu", **fast).save(tmp_path / "d.pt")
    add_sample(viewer, synthetic_visium(300, n_domains=3, n_genes=80, seed=4, library_id="b"))
    widget.sample.setCurrentIndex(1)
    second = widget.sample.adata
    widget.load_and_apply(path)
    assert widget.chooser.currentData() == "domain_gcn"
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=WAIT)
    assert second.uns["domain"]["transferred"] and second.uns["domain"]["model_file"]
    assert adjusted_rand_score(second.obs["truth"], second.obs["domain"]) > 0.6
    (layer,) = _result_layers(viewer, "domain")
    assert _n_colors(layer) == second.obs["domain"].nunique()
