"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT",
                   help="Space Ranger, Visium HD or Xenium output folder, SpatialData .zarr "
                   "store or .h5ad file")


def add_seed_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train: auto = CUDA when available (default)")


def add_params(p: argparse.ArgumentParser, example: str) -> None:
    """``--param KEY=VALUE`` (repeatable) for model parameters; read with :func:`parse_params`."""
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"model parameter, repeatable (e.g. {example})",
    )


def parse_params(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` (values are coerced by the model)."""
    from ..errors import ScdlError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScdlError(f"--param {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def read_input(path: str):
    from ..io import read

    return read(path)


def write_h5ad(adata, out: str) -> Path:
    """Write the result: a SpatialData store (the input's elements plus our table) when
    ``out`` ends in ``.zarr``, else an ``.h5ad``."""
    from ..io import write as _write

    return _write(adata, out)
