"""Saving a sample back as a SpatialData store from the GUI (Domains panel > Save to
store…, File > IO Utilities), atomically: a new store, or into the one it came from."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from qtpy.QtCore import Qt
from tests_paths import PEER

from napari_scdl._qt.common.save_store import SaveStoreWidget
from napari_scdl._qt.domains.widget import DomainsWidget
from napari_scdl.errors import DataFormatError

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.skipif(not (PEER / "spatialdata_blobs.zarr").exists(),
                                 reason="spatialdata_blobs.zarr not present")]
BLOBS = PEER / "spatialdata_blobs.zarr"


@pytest.fixture
def opened(make_napari_viewer, tmp_path):
    """A copy of the blobs store opened in napari with File > Open (our reader), and an
    obs column standing for a result."""
    store = tmp_path / "blobs.zarr"
    shutil.copytree(BLOBS, store)
    viewer = make_napari_viewer()
    viewer.open(str(store), plugin="napari-scdl")
    spots = next(ly for ly in viewer.layers if ly.metadata.get("adata") is not None)
    adata = spots.metadata["adata"]
    adata.obs["domain"] = np.where(np.arange(adata.n_obs) % 2, "a", "b")
    adata.uns["domain"] = {"params": {"n_domains": 2}}
    return viewer, store, spots, adata


def _files(store):
    return sorted(str(p.relative_to(store)) for p in store.rglob("*"))


def _save_dock(qtbot, viewer):
    w = DomainsWidget(viewer)
    qtbot.addWidget(w)
    qtbot.mouseClick(w.save_button, Qt.MouseButton.LeftButton)
    docks = [d.widget().findChild(SaveStoreWidget) or d.widget()
             for d in viewer.window._dock_widgets.values()]
    dock = next(d for d in docks if isinstance(d, SaveStoreWidget))
    return dock


def _click_save(qtbot, dock):
    qtbot.mouseClick(dock.runner.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock.runner.running, timeout=60_000)


def test_save_into_the_source_store_keeps_its_elements(qtbot, opened):
    import spatialdata as sd

    viewer, store, spots, adata = opened
    before = sd.read_zarr(store)
    image = next(ly for ly in viewer.layers if ly.metadata.get("scdl_role") == "image")
    pixels = float(np.asarray(image.data[0] if image.multiscale else image.data).sum())
    dock = _save_dock(qtbot, viewer)
    assert dock.sample.layer is not None and dock.into_source.isEnabled()
    assert not dock.into_source.isChecked()  # never the default
    assert dock.target.text().endswith("blobs_scdl.zarr")
    dock.into_source.setChecked(True)
    assert not dock.target.isEnabled() and str(store) in dock.note.text()
    _click_save(qtbot, dock)
    assert "saved 11 rows" in dock.runner.status.text() and "domain" in dock.runner.status.text()
    back = sd.read_zarr(store)
    assert list(back.tables["table"].obs["domain"]) == list(adata.obs["domain"])
    for kind in ("images", "labels", "points", "shapes"):
        assert set(getattr(back, kind)) == set(getattr(before, kind)), kind
    assert back.tables["table"].uns["spatialdata_attrs"]["region"] == "blobs_labels"
    assert not [p for p in store.parent.iterdir() if p.name.startswith(".blobs.zarr")]
    # the image layer reads the rewritten store (its zarr format changed under it)
    now = float(np.asarray(image.data[0] if image.multiscale else image.data).sum())
    assert now == pytest.approx(pixels) and now > 0


def test_save_to_a_new_store_leaves_the_input_alone(qtbot, opened):
    import spatialdata as sd

    viewer, store, spots, adata = opened
    before = _files(store)
    dock = _save_dock(qtbot, viewer)
    out = store.parent / "result.zarr"
    dock.target.setText(str(out))
    _click_save(qtbot, dock)
    back = sd.read_zarr(out)
    assert "domain" in back.tables["table"].obs and set(back.images) == {
        "blobs_image", "blobs_multiscale_image"}
    assert _files(store) == before
    # an existing store is not replaced: the user is told to choose another name
    _click_save(qtbot, dock)
    assert "exists: choose another name" in dock.runner.status.text()


def test_failure_mid_write_leaves_the_source_intact(qtbot, opened, monkeypatch):
    import spatialdata as sd

    viewer, store, spots, adata = opened
    before = _files(store)
    real = sd.SpatialData.write

    def half_then_fail(self, path, *args, **kwargs):  # the disk fills up half way
        real(self, path, *args, **kwargs)
        shutil.rmtree(next(iter(sorted(path.iterdir()))))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sd.SpatialData, "write", half_then_fail)
    dock = _save_dock(qtbot, viewer)
    dock.into_source.setChecked(True)
    _click_save(qtbot, dock)
    status = dock.runner.status.text()
    assert "No space left on device" in status and f"{store} is unchanged" in status
    assert _files(store) == before
    assert "domain" not in sd.read_zarr(store).tables["table"].obs
    assert not [p for p in store.parent.iterdir() if p.name.startswith(".blobs.zarr")]


def test_python_into_source_and_guards(tmp_path, small_adata):
    from napari_scdl.io import read, write_spatialdata

    store = tmp_path / "blobs.zarr"
    shutil.copytree(BLOBS, store)
    adata = read(store)
    adata.obs["domain"] = "x"
    with pytest.raises(DataFormatError, match="input store"):
        write_spatialdata(adata, store)
    assert write_spatialdata(adata, into_source=True) == store.resolve()
    assert read(store).obs["domain"].eq("x").all()
    with pytest.raises(DataFormatError, match="not read from a SpatialData"):
        write_spatialdata(small_adata, into_source=True)
    (tmp_path / "other.zarr").mkdir()
    with pytest.raises(DataFormatError, match="not a SpatialData store"):
        write_spatialdata(small_adata, tmp_path / "other.zarr", overwrite=True)


def test_file_menu_opens_the_save_dock(make_napari_viewer, small_adata):
    from napari._app_model import get_app_model

    from napari_scdl._qt.launch import add_sample

    viewer = make_napari_viewer()
    add_sample(viewer, small_adata)
    app = get_app_model()
    if "napari-scdl.save_store" not in app.commands:
        pytest.skip("napari-scdl's menu contributions are not registered in this session")
    app.commands.execute_command("napari-scdl.save_store").result()
    docks = [d.widget().findChild(SaveStoreWidget) or d.widget()
             for d in viewer.window._dock_widgets.values()]
    dock = next(d for d in docks if isinstance(d, SaveStoreWidget))
    assert not dock.into_source.isEnabled()  # a plain sample: only a new store
    assert "not read from a SpatialData store" in dock.note.text()
