"""The npe2 manifest napari loads is the top-level napari.yaml (one copy, valid)."""

from __future__ import annotations

import filecmp
from pathlib import Path

from npe2 import PluginManager, PluginManifest

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_is_the_top_level_file():
    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-scdl")
    loaded = Path(manifest._yaml_path if hasattr(manifest, "_yaml_path") else "")
    pkg_yaml = ROOT / "src" / "napari_scdl" / "napari.yaml"
    assert pkg_yaml.is_symlink() and pkg_yaml.resolve() == (ROOT / "napari.yaml").resolve()
    assert filecmp.cmp(pkg_yaml, ROOT / "napari.yaml", shallow=False)
    if loaded.name:
        assert loaded.resolve() == (ROOT / "napari.yaml").resolve()


def test_manifest_validates_and_declares_contributions():
    m = PluginManifest.from_file(ROOT / "napari.yaml")
    m.validate_imports()
    assert m.contributions.readers and m.contributions.sample_data and m.contributions.widgets
