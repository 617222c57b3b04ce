"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT", help="Space Ranger output folder or .h5ad file")


def add_seed_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train: auto = CUDA when available (default)")


def read_input(path: str):
    from ..io import read

    return read(path)


def write_h5ad(adata, out: str) -> Path:
    from ..io import write_h5ad as _write

    return _write(adata, out)
