"""The command line: --help, --version, view's checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_scdl import __version__
from napari_scdl.cli import main


def test_help_lists_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "view" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out


def test_entry_point_installed():
    r = subprocess.run([sys.executable, "-m", "napari_scdl.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "napari-scdl" in r.stdout


def test_view_bad_path_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":999")  # never reached: the data is read before any window
    assert main(["view", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_view_screenshot(tmp_path, qapp):
    """``napari-scdl view`` in its own process, as users run it (a second viewer in a test
    process that already made and closed viewers trips over napari's plugin registry)."""
    out = tmp_path / "shot.png"
    r = subprocess.run(
        [sys.executable, "-m", "napari_scdl.cli", "view", "--screenshot", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.stat().st_size > 10_000
