"""Annotation import/export: Loupe CSV, QuPath GeoJSON, h5ad; mismatches are reported."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_scdl.annotations import AnnotationStore, geometry
from napari_scdl.annotations import io as aio
from napari_scdl.errors import ScdlError


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))


@pytest.fixture
def store(small_adata):
    s = AnnotationStore(small_adata, autosave=False)
    s.create_column("pathology")
    s.assign("pathology", np.arange(0, 40), "tumor")
    s.assign("pathology", np.arange(40, 70), "stroma", color="#00ff00")
    return s


def _fresh(adata):
    b = adata.copy()
    for k in ("pathology", "Pathology"):
        if k in b.obs:
            del b.obs[k]
    b.uns.pop("scdl_annotations", None)
    return AnnotationStore(b, autosave=False)


def test_csv_round_trip_loupe_format(store, tmp_path):
    path = aio.export_csv(store, "pathology", tmp_path / "p.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "Barcode,pathology" and len(lines) == 71
    other = _fresh(store.adata)
    rep = aio.import_csv(other, path)
    assert rep.n_matched == 70 and rep.n_unmatched == 0
    pd.testing.assert_series_equal(
        other.labels("pathology").astype(str), store.labels("pathology").astype(str)
    )
    other.undo()  # an import is one undoable edit
    assert "pathology" not in other.columns


def test_csv_mismatched_barcodes_are_reported_and_kept(store, tmp_path):
    names = store.adata.obs_names
    df = pd.DataFrame(
        {
            "Barcode": list(names[:5]) + ["ACGTACGTACGT-9", "TTTTGGGGCCCC-9"],
            "Review": ["ok"] * 5 + ["bad", "bad"],
        }
    )
    df.to_csv(tmp_path / "r.csv", index=False)
    other = _fresh(store.adata)
    rep = aio.import_csv(other, tmp_path / "r.csv")
    assert (rep.n_labels, rep.n_matched, rep.n_unmatched) == (7, 5, 2)
    assert "5 of 7" in str(rep)
    assert other.unmatched("Review") == {"ACGTACGTACGT-9": "bad", "TTTTGGGGCCCC-9": "bad"}
    um = other.adata.uns["scdl_annotations"]["unmatched"]["Review"]
    assert list(um["barcodes"]) == ["ACGTACGTACGT-9", "TTTTGGGGCCCC-9"]
    # exporting with the unmatched ones keeps every label
    out = aio.export_csv(other, "Review", tmp_path / "all.csv", include_unmatched=True)
    assert len(out.read_text().splitlines()) == 8
    # nothing matching raises
    pd.DataFrame({"Barcode": ["AAAACCCCGGGG-3"], "x": ["y"]}).to_csv(
        tmp_path / "n.csv", index=False
    )
    with pytest.raises(ScdlError, match="none of its 1 barcodes"):
        aio.import_csv(other, tmp_path / "n.csv")


def test_csv_suffix_mismatch_matches_without_dash_number(store, tmp_path):
    names = store.adata.obs_names
    stripped = pd.Index(names.str.replace(r"-\d+$", "", regex=True))
    pd.DataFrame({"Barcode": stripped[:10], "c": ["x"] * 10}).to_csv(
        tmp_path / "s.csv", index=False
    )
    other = _fresh(store.adata)
    rep = aio.import_csv(other, tmp_path / "s.csv")
    if names[0] == stripped[0]:  # barcodes without suffix: nothing to test
        assert rep.n_matched == 10
    else:
        assert rep.n_matched == 10 and "suffix" in rep.note


def test_geojson_round_trip_qupath(store, tmp_path):
    xy = geometry.spot_xy(store.adata)
    lo, hi = xy.min(0), np.quantile(xy, 0.3, axis=0)
    store.assign_polygon(
        "pathology",
        [[lo[0] - 1, lo[1] - 1], [hi[0], lo[1] - 1], [hi[0], hi[1]], [lo[0] - 1, hi[1]]],
        "region",
    )
    for shapes in ("drawn", "outline"):
        path = aio.export_geojson(store, "pathology", tmp_path / f"{shapes}.geojson", shapes=shapes)
        doc = json.loads(path.read_text())
        assert doc["type"] == "FeatureCollection"
        f = doc["features"][0]
        assert f["properties"]["objectType"] == "annotation"
        assert set(f["properties"]["classification"]) == {"name", "color"}
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
    drawn = json.loads((tmp_path / "drawn.geojson").read_text())
    assert drawn["features"][0]["properties"]["classification"]["name"] == "region"
    # importing the outlines gives back (at least) every labelled spot with its category
    other = _fresh(store.adata)
    rep = aio.import_geojson(other, tmp_path / "outline.geojson", "pathology")
    assert rep.n_matched >= store.labels("pathology").notna().sum() * 0.95
    got, want = other.labels("pathology"), store.labels("pathology")
    both = want.notna() & got.notna()
    assert (got[both].astype(str) == want[both].astype(str)).mean() > 0.95
    assert other.colors("pathology")["stroma"] == "#00ff00"


def test_geojson_outside_tissue_raises(store, tmp_path):
    feat = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-10, -10], [-5, -10], [-5, -5], [-10, -10]]],
        },
        "properties": {"classification": {"name": "x", "color": [1, 2, 3]}},
    }
    (tmp_path / "f.geojson").write_text(json.dumps([feat]))
    with pytest.raises(ScdlError, match="contains a spot"):
        aio.import_geojson(_fresh(store.adata), tmp_path / "f.geojson", "pathology")


def test_h5ad_round_trip(store, tmp_path):
    path = aio.export_h5ad(store, tmp_path / "s.h5ad")
    import anndata as ad

    back = ad.read_h5ad(path)
    assert list(back.uns["scdl_annotations"]["columns"]) == ["pathology"]
    reopened = AnnotationStore(back, autosave=False)  # columns recognised again
    assert reopened.columns == ["pathology"]
    assert reopened.colors("pathology")["stroma"] == "#00ff00"
    other = _fresh(store.adata)
    rep = aio.import_h5ad(other, path, "pathology", column="copy")
    assert rep.n_matched == 70
    assert (other.labels("copy").astype(str) == store.labels("pathology").astype(str)).all()


def test_points_in_polygon_and_outline():
    pts = np.array([[0, 0], [1, 1], [2, 2], [0.5, 0.2], [3, 3]], float)
    square = [[0, 0], [2, 0], [2, 2], [0, 2]]
    assert geometry.points_in_polygon(pts, square).tolist() == [True, True, True, True, False]
    hole = [[0.8, 0.8], [1.2, 0.8], [1.2, 1.2], [0.8, 1.2]]
    assert not geometry.points_in_polygon(pts, square, holes=[hole])[1]
    grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2)
    for kind in ("hull", "auto"):
        shapes = geometry.outline(np.vstack([grid, grid + 100]), kind=kind)
        assert len(shapes) == 2  # two separate groups -> two polygons
        for ext, _ in shapes:
            assert (
                geometry.points_in_polygon(grid, ext).all()
                or geometry.points_in_polygon(grid + 100, ext).all()
            )
    with pytest.raises(ScdlError):
        geometry.as_polygon([[0, 0], [1, 1]])
