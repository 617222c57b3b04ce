"""Command line: ``napari-scdl SUBCOMMAND ...``.

Each subcommand is a module ``cli/_NAME.py`` with ``add_parser(subparsers)`` (which sets
``func`` via ``set_defaults``); list it in ``_SUBCOMMANDS``. Subcommands call the same
``napari_scdl.tl`` functions as the GUI.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from importlib import import_module

from .._version import __version__
from ..errors import ScdlError

_SUBCOMMANDS = ["view", "markers", "figure", "propagate", "models", "run", "domains", "cohort", "transfer", "drug_response"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-scdl",
        description="Single-cell deep learning for spatial transcriptomics in napari.",
    )
    parser.add_argument("--version", action="version", version=f"napari-scdl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        import_module(f"{__name__}._{name}").add_parser(sub)
    return parser


#: first-generation threshold of the cyclic garbage collector in a ``napari-scdl`` process
#: (Python's default: 700). Importing torch, scanpy and squidpy makes millions of
#: long-lived objects, and every full collection walks all of them: with the default, a
#: Visium slide's ``domains`` spent about 2 s of its ~17 s in the collector, and the
#: interpreter's exit another 1.4 s. Set only for a command-line process, never when
#: ``main`` is called from Python (a script, a test).
GC_THRESHOLD = 50_000


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        return _main(argv)
    _, *older = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *older)
    try:
        return _main(None)
    finally:
        # exit without walking every object again (Python collects at shutdown); the
        # output is written and closed by now
        gc.freeze()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ScdlError as err:
        print(f"napari-scdl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-scdl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a message, not a traceback, for users
        if args.verbose:
            import traceback

            traceback.print_exc()
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(
            f"napari-scdl {args.command}: error: {type(err).__name__}: {detail[:300]}\n"
            "(an unexpected failure; run again with -v for the traceback, and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
