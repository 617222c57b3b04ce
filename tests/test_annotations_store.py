"""AnnotationStore: edits, undo/redo, events, autosave + reload, atomic and kill-safe writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from napari_scdl.annotations import AnnotationStore
from napari_scdl.annotations import _autosave as autosave
from napari_scdl.errors import ScdlError


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_SCDL_DATA_DIR", str(tmp_path / "userdata"))


@pytest.fixture
def store(small_adata, tmp_path):
    s = AnnotationStore.for_adata(small_adata, project_dir=tmp_path / "project")
    s.create_column("pathology")
    return s


def _saved(store) -> dict:
    return json.loads(store.path.read_text())


def test_assign_erase_undo_redo(store):
    a = store.adata
    assert store.assign("pathology", [0, 1, 2], "tumor") == 3
    assert store.assign("pathology", a.obs_names[2:5], "stroma", color=(255, 0, 0)) == 3
    lab = store.labels("pathology")
    assert list(lab.iloc[:5]) == ["tumor", "tumor", "stroma", "stroma", "stroma"]
    assert lab.iloc[5:].isna().all()
    assert store.colors("pathology")["stroma"] == "#ff0000"
    assert a.uns["pathology_colors"] == list(store.colors("pathology").values())
    assert store.erase("pathology", np.r_[0, 3]) == 2
    assert store.labels("pathology").notna().sum() == 3
    assert store.undo_text.startswith("erase")
    store.undo()
    assert store.labels("pathology").notna().sum() == 5
    store.undo()
    assert store.categories("pathology") == ["tumor"]
    assert store.labels("pathology").iloc[2] == "tumor"
    store.redo()
    store.redo()
    assert store.labels("pathology").notna().sum() == 3
    assert not store.can_redo
    store.assign("pathology", [10], "tumor")
    assert not store.can_redo  # a new edit clears redo


def test_category_operations_and_full_undo(store):
    store.assign("pathology", np.arange(0, 10), "a")
    store.assign("pathology", np.arange(10, 20), "b")
    store.assign("pathology", np.arange(20, 25), "c")
    before = store.labels("pathology").copy()
    store.rename_category("pathology", "a", "alpha")
    store.recolor_category("pathology", "b", "green")
    store.merge_categories("pathology", ["b", "c"], "b")
    assert store.categories("pathology") == ["alpha", "b"]
    assert (store.labels("pathology") == "b").sum() == 15
    store.add_category("pathology", "empty")
    store.delete_category("pathology", "alpha")
    assert store.categories("pathology") == ["b", "empty"]
    assert store.labels("pathology").notna().sum() == 15
    with pytest.raises(ScdlError, match="already has"):
        store.rename_category("pathology", "b", "empty")
    for _ in range(5):
        store.undo()
    pd.testing.assert_series_equal(store.labels("pathology"), before)
    assert store.colors("pathology")["b"] != "#008000"


def test_columns_copy_from_model_and_delete(store):
    a = store.adata
    a.uns["truth_colors"] = ["#000000", "#111111", "#222222", "#333333"]
    store.create_column("review", from_key="truth")
    assert store.columns == ["pathology", "review"]
    assert (store.labels("review").astype(str) == a.obs["truth"].astype(str)).all()
    assert store.colors("review") == dict(
        zip(store.categories("review"), a.uns["truth_colors"], strict=True)
    )
    store.assign("review", [0], "fixed")
    store.delete_column("pathology")
    assert "pathology" not in a.obs and "pathology" not in store.columns
    store.undo()
    assert store.columns == ["pathology", "review"]  # restored at its place
    with pytest.raises(ScdlError):
        store.create_column("review")
    with pytest.raises(ScdlError, match="no annotation column"):
        store.assign("nope", [0], "x")
    with pytest.raises(ScdlError, match="not in this sample"):
        store.assign("review", ["AAAA-1"], "x")


def test_polygon_group_accept_and_events(store):
    a = store.adata
    events = []
    store.events.connect(events.append)
    xy = a.obsm["spatial"]
    x0, y0 = xy.min(0)
    x1, y1 = np.median(xy, 0)
    poly = [[x0 - 1, y0 - 1], [x1, y0 - 1], [x1, y1], [x0 - 1, y1]]
    n = store.assign_polygon("pathology", poly, "tumor")
    inside = (xy[:, 0] <= x1) & (xy[:, 1] <= y1)
    assert n == inside.sum() > 0
    assert store.polygons("pathology")[0]["category"] == "tumor"
    with store.group("paint stroke"):
        store.assign("pathology", [0], "x")
        store.assign("pathology", [1], "x")
    assert store.undo_text == "paint stroke"
    store.undo()
    assert "x" not in store.categories("pathology")
    a.obs["predicted_label"] = pd.Categorical(["p"] * a.n_obs)
    a.obs["predicted_confidence"] = np.linspace(0, 1, a.n_obs)
    changed = store.accept_prediction("pathology", min_confidence=0.5, only_unlabelled=True)
    lab = store.labels("pathology")
    assert changed == ((a.obs["predicted_confidence"] >= 0.5) & ~inside).sum()
    assert (lab[inside] == "tumor").all()
    assert {e.kind for e in events} >= {"categories", "labels"}
    store.events.connect(lambda e: 1 / 0)  # a broken listener does not break edits
    store.erase("pathology", [0])


def test_autosave_and_reload_same_sample(visium_dir, tmp_path):
    from napari_scdl.io import read

    a = read(visium_dir)
    s = AnnotationStore.for_adata(a)
    assert s.path == visium_dir.parent / f"{visium_dir.name}{autosave.SUFFIX}"
    assert AnnotationStore.for_adata(a) is s
    s.create_column("pathology")
    s.assign_polygon("pathology", [[0, 0], [1e5, 0], [1e5, 1e5]], "tumor")
    s.assign("pathology", a.obs_names[:3], "necrosis", color="black")
    doc = _saved(s)
    assert doc["sample_id"] == a.uns["scdl"]["sample_id"]
    b = read(visium_dir)  # the same sample opened again
    s2 = AnnotationStore.for_adata(b)
    assert s2 is not s and s2.columns == ["pathology"]
    pd.testing.assert_series_equal(s2.labels("pathology"), s.labels("pathology"))
    assert s2.colors("pathology")["necrosis"] == "#000000"
    assert len(s2.polygons("pathology")) == 1
    # a project folder, chosen later, becomes the save place and wins on reopen
    s2.move_to(tmp_path / "proj")
    s2.erase("pathology", [0])
    c = read(visium_dir)
    s3 = AnnotationStore.for_adata(c, project_dir=tmp_path / "proj")
    assert s3.labels("pathology").notna().sum() == s2.labels("pathology").notna().sum()


def test_read_only_folder_falls_back_to_user_dir(small_adata, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(autosave, "writable", lambda p: not str(p).startswith(str(ro)))
    s = AnnotationStore.for_adata(small_adata, project_dir=ro)
    assert str(s.path).startswith(str(tmp_path / "userdata"))
    s.create_column("c")
    assert s.path.is_file()


def test_atomic_write_keeps_old_file_on_failure(store, monkeypatch):
    store.assign("pathology", [0], "tumor")
    good = store.path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(OSError):
        autosave.atomic_write_json(store.path, {"x": 1})
    assert store.path.read_text() == good
    assert not [p for p in store.path.parent.iterdir() if p.suffix == ".tmp"]


_WRITER = textwrap.dedent("""
    import sys, numpy as np, pandas as pd, anndata as ad
    from napari_scdl.annotations import AnnotationStore
    n = 3000
    a = ad.AnnData(obs=pd.DataFrame(index=[f"BC{i:05d}-1" for i in range(n)]),
                   obsm={"spatial": np.random.default_rng(0).uniform(0, 1000, (n, 2))})
    s = AnnotationStore.for_adata(a, project_dir=sys.argv[1])
    s.create_column("c")
    rng = np.random.default_rng(1)
    i = 0
    while True:
        s.assign("c", rng.integers(0, n, 50), f"cat{i % 7}")
        i += 1
        if i == 5:
            print("ready", flush=True)
""")


@pytest.mark.slow
def test_killed_process_leaves_valid_file(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    files = list(tmp_path.glob(f"*{autosave.SUFFIX}"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())  # always valid JSON
    assert doc["format"] == autosave.FORMAT
    assert sum(len(v) for v in doc["columns"][0]["labels"].values()) > 0


def test_streamed_document_equals_the_json_document(store):
    """The autosave text (written in chunks, barcodes encoded once) is the same JSON as
    :meth:`to_dict`, including barcodes that need escaping."""
    a = store.adata
    a.obs_names = [f'BC"{i}\\é-1' if i % 5 == 0 else f"BC{i}-1" for i in range(a.n_obs)]
    store.add_category("pathology", "stroma")
    store.assign("pathology", [0, 1, 2, 7], "tumor")
    store.assign("pathology", [3, 4], "stroma")
    store.save()
    saved, expected = _saved(store), store.to_dict()
    for doc in (saved, expected):
        doc.pop("saved_at")
    assert saved == expected
    assert sorted(saved["columns"][0]["labels"]["tumor"]) == sorted(a.obs_names[[0, 1, 2, 7]])


def test_large_samples_autosave_in_the_background(store, monkeypatch):
    """From ASYNC_AUTOSAVE_SPOTS an edit returns before its save is written; the newest
    state reaches the disk, and flush() waits for it."""
    from napari_scdl.annotations import store as store_mod

    monkeypatch.setattr(store_mod, "ASYNC_AUTOSAVE_SPOTS", 1)
    gate = __import__("threading").Event()
    real = store._write

    def slow_write(*args, **kwargs):
        gate.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "_write", slow_write)
    store.assign("pathology", [0], "tumor")  # returns although the write waits
    for i in range(1, 6):
        store.assign("pathology", [i], "tumor")
    assert not store.flush(timeout=0.05)
    gate.set()
    assert store.flush(timeout=10)
    labels = _saved(store)["columns"][0]["labels"]["tumor"]
    assert sorted(labels) == sorted(store.adata.obs_names[:6])


def test_background_save_failure_is_reported_and_labels_kept(store, monkeypatch):
    """A background autosave that cannot write anywhere is reported (save_failed) at the
    next edit; the labels stay in the sample and a later save writes them all."""
    from napari_scdl.annotations import store as store_mod

    monkeypatch.setattr(store_mod, "ASYNC_AUTOSAVE_SPOTS", 1)
    events = []
    store.events.connect(lambda ev: events.append(ev.kind))

    def full(*args, **kwargs):
        raise OSError("disk full")

    real = autosave.atomic_write_text
    monkeypatch.setattr(autosave, "atomic_write_text", full)
    store.assign("pathology", [0, 1], "tumor")
    assert store.flush(timeout=10)
    store.assign("pathology", [2], "tumor")
    assert "save_failed" in events
    monkeypatch.setattr(autosave, "atomic_write_text", real)
    store.save()
    assert sorted(_saved(store)["columns"][0]["labels"]["tumor"]) == sorted(store.adata.obs_names[:3])
