"""Cells: polygon outlines when zoomed in, markers when zoomed out, in the result's
colours (a real viewer on the real Xenium crop)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from tests_paths import PEER

from napari_scdl import zoom_switch
from napari_scdl._qt.common.result_layers import show_categorical
from napari_scdl.colors import category_colors
from napari_scdl.layers import CELLS_ROLE, SPOTS_ROLE

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.skipif(not (PEER / "xenium_crop").exists(),
                                 reason="xenium_crop not present")]


@pytest.fixture(scope="module")
def xenium_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xenium")
    for f in (PEER / "xenium_crop").iterdir():
        if "transcripts" not in f.name and "nucleus" not in f.name:
            shutil.copy(f, folder / f.name)
    (folder / "experiment.xenium").write_text(json.dumps({"pixel_size": 0.2125}))
    return folder


@pytest.fixture
def opened(make_napari_viewer, xenium_folder):
    """The crop opened with File > Open: the reader attaches the switch."""
    viewer = make_napari_viewer()
    viewer.open(str(xenium_folder), plugin="napari-scdl")
    outlines = next(ly for ly in viewer.layers if ly.metadata.get("scdl_role") == CELLS_ROLE)
    spots = next(ly for ly in viewer.layers if ly.metadata.get("scdl_role") == SPOTS_ROLE)
    (switch,) = zoom_switch.switches(viewer)
    return viewer, outlines, spots, switch


def _zoom(qtbot, viewer, switch, cell_px):
    viewer.camera.zoom = cell_px / switch._cell
    qtbot.waitUntil(lambda: switch.mode == switch.wanted(), timeout=5000)


def test_outlines_in_markers_out(qtbot, opened):
    viewer, outlines, spots, switch = opened
    assert switch.outlines is outlines and len(outlines.data) == 526
    _zoom(qtbot, viewer, switch, 3 * zoom_switch.MIN_CELL_PX)  # cells 36 px across
    assert outlines.visible and not spots.visible and switch.mode == "outlines"
    _zoom(qtbot, viewer, switch, zoom_switch.MIN_CELL_PX / 3)  # 4 px: markers
    assert spots.visible and not outlines.visible and switch.mode == "markers"
    _zoom(qtbot, viewer, switch, 2 * zoom_switch.MIN_CELL_PX)
    assert outlines.visible and not spots.visible


def test_outlines_take_the_result_colours(qtbot, opened):
    viewer, outlines, spots, switch = opened
    adata = spots.metadata["adata"]
    x = adata.obsm["spatial"][:, 0]
    adata.obs["half"] = np.where(x > np.median(x), "right", "left")
    _zoom(qtbot, viewer, switch, 30)
    result, legend = show_categorical(viewer, spots, "half")  # as the panels do, zoomed in
    qtbot.waitUntil(lambda: not result.visible, timeout=5000)
    assert outlines.visible and switch.shown is result
    rows = zoom_switch._obs_rows(adata, outlines.metadata["instance_ids"])
    expected = np.array([to_rgba(legend[adata.obs["half"].iloc[r]]) for r in rows])
    np.testing.assert_allclose(outlines.edge_color[:, :3], expected[:, :3], atol=1e-3)
    # a re-run repaints the same result layer: the outlines follow
    adata.obs["half"] = np.where(x > np.median(x), "left", "right")
    show_categorical(viewer, spots, "half")
    flipped = np.array([to_rgba(category_colors(adata, "half")[adata.obs["half"].iloc[r]])
                        for r in rows])
    qtbot.waitUntil(lambda: np.allclose(outlines.edge_color[:, :3], flipped[:, :3], atol=1e-3),
                    timeout=5000)
    # zoomed out, the result's markers come back (not the plain spots)
    _zoom(qtbot, viewer, switch, 2)
    assert result.visible and not spots.visible and not outlines.visible


def test_switch_can_be_turned_off_from_the_menu(qtbot, opened):
    from napari_scdl._qt.common.cells_zoom import toggle_cells_by_zoom

    viewer, outlines, spots, switch = opened
    _zoom(qtbot, viewer, switch, 30)
    assert toggle_cells_by_zoom(viewer) is False  # Layers > Visualize > Cells: ... (on/off)
    assert outlines.visible and spots.visible  # both, as without the switch
    viewer.camera.zoom = 2 / switch._cell
    qtbot.wait(300)
    assert outlines.visible and spots.visible and switch.mode is None
    assert toggle_cells_by_zoom(viewer) is True
    assert spots.visible and not outlines.visible and switch.mode == "markers"
