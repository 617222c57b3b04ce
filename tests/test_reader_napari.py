"""napari picks napari-scdl for our folders and files (File > Open: napari's
``_qt_open`` with no plugin, and ``viewer.open(path, plugin=None)``), and says why when it
cannot read something (issue 12). Note: ``viewer.open(path)`` in a script defaults to
``plugin='napari'`` (napari's builtins) by napari's design; the GUI passes no plugin."""

from __future__ import annotations

import numpy as np
import pytest
from tests_paths import PEER

from napari_scdl._reader import prefer_scdl_reader

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def reader_prefs():
    """napari's reader preferences, emptied for the test and restored after."""
    from napari.settings import get_settings

    plugins = get_settings().plugins
    saved = dict(plugins.extension2reader)
    plugins.extension2reader = {}
    yield plugins
    plugins.extension2reader = saved


@pytest.fixture
def messages(monkeypatch):
    """Error notifications napari-scdl shows."""
    shown: list[str] = []
    import napari.utils.notifications as notifications

    monkeypatch.setattr(notifications, "show_error", shown.append)
    return shown


def test_without_preference_napari_cannot_choose(make_napari_viewer, visium_dir, reader_prefs):
    """The bug: two readers claim a folder, so napari asks (and its dialog preselects
    "napari builtins")."""
    from napari.errors import MultipleReaderError

    viewer = make_napari_viewer()
    with pytest.raises(MultipleReaderError):
        viewer.open(str(visium_dir), plugin=None)


def test_space_ranger_folder_opens_without_naming_the_plugin(make_napari_viewer, visium_dir,
                                                              reader_prefs):
    assert "*/" in prefer_scdl_reader()  # first use of napari-scdl
    viewer = make_napari_viewer()
    viewer.window._qt_viewer._qt_open([str(visium_dir)], stack=False)  # File > Open Folder
    layers = list(viewer.layers)
    assert sorted(type(ly).__name__ for ly in layers) == ["Image", "Image", "Points"]
    pts = next(ly for ly in layers if type(ly).__name__ == "Points")
    assert pts.metadata["adata"].n_obs == len(pts.data) > 0
    assert prefer_scdl_reader() == []  # never overrides an existing preference


def test_h5ad_opens_without_naming_the_plugin(make_napari_viewer, tmp_path, small_adata,
                                              reader_prefs):
    path = tmp_path / "s.h5ad"
    small_adata.write_h5ad(path)
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=None)
    assert any(type(ly).__name__ == "Points" for ly in layers)


@pytest.mark.skipif(not (PEER / "spatialdata_blobs.zarr").exists(), reason="no blobs store")
def test_spatialdata_store_opens_without_naming_the_plugin(make_napari_viewer, reader_prefs):
    prefer_scdl_reader()
    viewer = make_napari_viewer()
    viewer.window._qt_viewer._qt_open([str(PEER / "spatialdata_blobs.zarr")], stack=False)
    layers = list(viewer.layers)
    assert sorted(type(ly).__name__ for ly in layers) == ["Image", "Labels", "Points"]


def test_other_folders_still_open_with_builtins(make_napari_viewer, tmp_path, reader_prefs):
    import imageio.v3 as iio

    folder = tmp_path / "stack"
    folder.mkdir()
    for i in range(2):
        iio.imwrite(folder / f"{i}.png", np.full((8, 9), i * 50, np.uint8))
    prefer_scdl_reader()
    viewer = make_napari_viewer()
    layers = viewer.open(str(folder), plugin=None)
    assert len(layers) == 1 and layers[0].data.shape[-2:] == (8, 9)


def test_empty_folder_says_what_was_looked_for(make_napari_viewer, tmp_path, reader_prefs,
                                               messages):
    (tmp_path / "empty").mkdir()
    prefer_scdl_reader()
    viewer = make_napari_viewer()
    viewer.window._qt_viewer._qt_open([str(tmp_path / "empty")], stack=False)
    assert len(viewer.layers) == 0
    assert len(messages) == 1
    assert "the folder is empty" in messages[0] and "Space Ranger" in messages[0]
    assert "refused" not in messages[0]


def test_text_file_named_h5ad_gets_our_reason_alone(make_napari_viewer, tmp_path, reader_prefs,
                                                    messages):
    path = tmp_path / "table.h5ad"
    path.write_text("barcode,x,y\nA,1,2\n")
    viewer = make_napari_viewer()
    viewer.window._qt_viewer._qt_open([str(path)], stack=False)
    assert len(viewer.layers) == 0
    assert messages and messages[0].startswith("table.h5ad is not an HDF5 file")
