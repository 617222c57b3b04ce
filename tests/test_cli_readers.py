"""Reader options of every command that reads a sample (--pixel-size, --bin-size, --table,
--region, --coordinate-system, --image-extent-um), passed through to ``io.read``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests_paths import PEER

import napari_scdl.io as scdl_io
from napari_scdl.cli import build_parser, main
from napari_scdl.cli._common import READER_OPTIONS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
BLOBS = PEER / "spatialdata_blobs.zarr"
XENIUM = PEER / "xenium_crop"
HD = PEER / "visium_hd_tiny"
#: every subcommand that reads a sample (cohort reads a manifest: its own options)
READING = ["view", "markers", "figure", "propagate", "run", "domains", "transfer",
           "drug-response"]


def _needs(path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present")


@pytest.fixture
def reads(monkeypatch):
    """Record every ``io.read`` call (keyword arguments and the AnnData it returned)."""
    calls = []
    real = scdl_io.read

    def spy(path, **kwargs):
        adata = real(path, **kwargs)
        calls.append((kwargs, adata))
        return adata

    monkeypatch.setattr(scdl_io, "read", spy)
    return calls


def _labels(adata, path, column="group"):
    half = np.where(np.arange(adata.n_obs) < adata.n_obs // 2, "a", "b")
    pd.DataFrame({"barcode": adata.obs_names, column: half}).to_csv(path, index=False)
    return path


def test_every_reading_command_has_the_reader_options():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in READING:
        flags = {s for a in sub.choices[name]._actions for s in a.option_strings}
        assert {flag for flag, _ in READER_OPTIONS.values()} <= flags, name
    args = build_parser().parse_args(["domains", "x", "--out", "y.zarr", "--pixel-size", "0.2125",
                                      "--bin-size", "16", "--image-extent-um", "1,2,3,4"])
    assert (args.pixel_size, args.bin_size, args.image_extent_um) == (0.2125, 16, (1, 2, 3, 4))


def test_bad_reader_values_are_refused(capsys):
    for bad in (["--pixel-size", "-1"], ["--bin-size", "eight"], ["--image-extent-um", "3,2,1"]):
        with pytest.raises(SystemExit):
            main(["markers", "x", "--groupby", "g", "--out", "m.csv", *bad])
        assert "expected" in capsys.readouterr().err


@_needs(XENIUM)
def test_missing_experiment_xenium_names_the_file_and_the_flag(tmp_path, capsys):
    code = main(["markers", str(XENIUM), "--groupby", "g", "--out", str(tmp_path / "m.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "experiment.xenium is missing" in err and "--pixel-size" in err
    assert "Traceback" not in err


@_needs(XENIUM)
def test_xenium_pixel_size_and_extent_reach_the_reader(tmp_path, reads, capsys):
    adata = scdl_io.read(XENIUM, pixel_size=0.2125)
    reads.clear()
    out = tmp_path / "m.csv"
    assert main(["markers", str(XENIUM), "--pixel-size", "0.2125", "--image-extent-um",
                 "1000,1000,1400,1400", "--bin-size", "8", "--groupby", "group", "--labels",
                 str(_labels(adata, tmp_path / "l.csv")), "--out", str(out)]) == 0
    kwargs, read_back = reads[-1]
    assert kwargs == {"pixel_size": 0.2125, "image_extent_um": (1000.0, 1000.0, 1400.0, 1400.0)}
    assert read_back.n_obs == 526 and read_back.uns["scdl"]["pixel_size_um"] == 0.2125
    assert set(pd.read_csv(out)["group"]) == {"a", "b"}
    err = capsys.readouterr().err  # --bin-size is not for Xenium: said, not fatal
    assert "--bin-size is for a Visium HD folder; ignored" in err


@_needs(HD)
def test_visium_hd_bin_size_reaches_the_reader(tmp_path, reads):
    adata = scdl_io.read(HD)
    reads.clear()
    assert main(["markers", str(HD), "--bin-size", "2", "--groupby", "group", "--labels",
                 str(_labels(adata, tmp_path / "l.csv")), "--out", str(tmp_path / "m.csv")]) == 0
    kwargs, read_back = reads[-1]
    assert kwargs == {"bin_size": 2} and read_back.uns["scdl"]["bin_size_um"] == 2


@_needs(BLOBS)
def test_spatialdata_table_and_coordinate_system(tmp_path, reads, capsys):
    adata = scdl_io.read(BLOBS)
    labels = _labels(adata, tmp_path / "l.csv")
    reads.clear()
    common = ["--groupby", "group", "--labels", str(labels), "--out", str(tmp_path / "m.csv")]
    assert main(["markers", str(BLOBS), "--table", "table", "--coordinate-system", "scale",
                 *common]) == 0
    kwargs, scaled = reads[-1]
    assert kwargs == {"table": "table", "coordinate_system": "scale"}
    assert scaled.uns["scdl"]["spatialdata"]["coordinate_system"] == "scale"
    # 'scale' has the labels but no image: positions in its units, not global's pixels
    assert not np.allclose(scaled.obsm["spatial"], adata.obsm["spatial"])
    assert main(["markers", str(BLOBS), "--table", "nope", *common]) == 2
    assert "table 'nope' not in the store" in capsys.readouterr().err
    assert main(["markers", str(BLOBS), "--coordinate-system", "nowhere", *common]) == 2
    assert "not in coordinate system 'nowhere'" in capsys.readouterr().err
