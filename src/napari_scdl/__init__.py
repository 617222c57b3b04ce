"""napari-scdl: single-cell deep learning for spatial transcriptomics in napari.

``import napari_scdl`` imports neither Qt nor torch; the submodules load them when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._version import __version__

__all__ = ["__version__", "io", "datasets", "tl", "models", "graph", "layers"]

_LAZY = {"io", "datasets", "tl", "models", "graph", "layers", "annotations", "metrics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
