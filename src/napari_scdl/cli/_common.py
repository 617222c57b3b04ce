"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: reader option (argparse dest) -> (flag, the input kinds of ``io.read`` it applies to)
READER_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pixel_size": ("--pixel-size", ("xenium",)),
    "bin_size": ("--bin-size", ("visium_hd",)),
    "table": ("--table", ("spatialdata",)),
    "region": ("--region", ("spatialdata",)),
    "coordinate_system": ("--coordinate-system", ("spatialdata",)),
    "image_extent_um": ("--image-extent-um", ("xenium",)),
}
_KIND_NAMES = {"xenium": "a Xenium folder", "visium_hd": "a Visium HD folder",
               "spatialdata": "a SpatialData store", "visium": "a Space Ranger folder",
               "h5ad": "an .h5ad file"}


def add_input(p: argparse.ArgumentParser) -> None:
    """The positional ``INPUT`` and the reader options (:func:`add_reader_options`)."""
    p.add_argument("input", metavar="INPUT",
                   help="Space Ranger, Visium HD or Xenium output folder, SpatialData .zarr "
                   "store or .h5ad file")
    add_reader_options(p)


def _positive(kind):
    def parse(value: str):
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
        return v
    return parse


def _extent(value: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected X0,Y0,X1,Y1 in micrometres (e.g. 1000,1000,1400,1400), got {value!r}") from None
    if x1 <= x0 or y1 <= y0:
        raise argparse.ArgumentTypeError(f"expected X0 < X1 and Y0 < Y1, got {value!r}")
    return (x0, y0, x1, y1)


def add_reader_options(p: argparse.ArgumentParser) -> None:
    """Options of the readers of ``io.read``, in their own help section; read them with
    :func:`reader_kwargs` (or :func:`read_input`)."""
    g = p.add_argument_group(
        "reading the input", "options of the format's reader; each applies to one kind of "
        "input and is ignored, with a warning, for the others")
    g.add_argument("--pixel-size", type=_positive(float), metavar="UM",
                   help="Xenium: micrometres per morphology-image pixel, for a folder without "
                   "experiment.xenium (e.g. 0.2125; default: experiment.xenium's pixel_size)")
    g.add_argument("--bin-size", type=_positive(int), metavar="UM",
                   help="Visium HD: bin size in micrometres, 2, 8 or 16 (default 8, or the "
                   "only one present)")
    g.add_argument("--image-extent-um", type=_extent, metavar="X0,Y0,X1,Y1",
                   help="Xenium crop: where the morphology image lies, in micrometres (for "
                   "an image exported without its offset)")
    g.add_argument("--table", metavar="NAME",
                   help="SpatialData store: the table to read (default: the first one "
                   "annotating shapes or labels)")
    g.add_argument("--region", metavar="NAME",
                   help="SpatialData store: the shapes/labels element of the table to use, "
                   "when it annotates several")
    g.add_argument("--coordinate-system", metavar="NAME",
                   help="SpatialData store: the coordinate system everything is placed in "
                   "(default: global when the table's region is in it)")


def reader_kwargs(args: argparse.Namespace | None, path: str | Path) -> dict:
    """The reader options given on the command line that apply to ``path``'s kind (a
    warning on stderr names each one that does not)."""
    from ..io import _kind

    given = {k: getattr(args, k) for k in READER_OPTIONS if getattr(args, k, None) is not None}
    if not given:
        return {}
    kind = _kind(Path(path).expanduser()) if Path(path).expanduser().exists() else None
    out = {}
    for key, value in given.items():
        flag, kinds = READER_OPTIONS[key]
        if kind in kinds or kind is None:  # unknown kind: let the reader say what it lacks
            out[key] = value
        else:
            wanted = " or ".join(_KIND_NAMES[k] for k in kinds)
            print(f"napari-scdl: warning: {flag} is for {wanted}; ignored for {path} "
                  f"({_KIND_NAMES.get(kind, 'another input')})", file=sys.stderr)
    return out


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


def read_input(path: str, args: argparse.Namespace | None = None):
    """Read ``path`` with ``io.read``, passing the reader options of ``args`` that apply."""
    from ..io import read

    return read(path, **reader_kwargs(args, path))


def write_h5ad(adata, out: str) -> Path:
    """Write the result: a SpatialData store (the input's elements plus our table) when
    ``out`` ends in ``.zarr``, else an ``.h5ad``."""
    from ..io import write as _write

    return _write(adata, out)
