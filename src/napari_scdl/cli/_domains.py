"""``napari-scdl domains INPUT [--n-domains K] --out OUT.h5ad``: spatial domains headless."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from ..errors import ScdlError
from ._common import add_input, add_seed_device, read_input, write_h5ad


def add_parser(sub) -> None:
    p = sub.add_parser(
        "domains",
        help="spatial domains with the graph-convolution model (domain_gcn)",
        description="Find spatial domains in INPUT (any sample napari-scdl reads) and write "
        "the AnnData with obs KEY, obs KEY_confidence, obsm X_KEY and uns KEY to --out.",
    )
    add_input(p)
    p.add_argument(
        "--n-domains",
        default=7,
        metavar="K",
        type=_n_domains,
        help="number of domains (default 7, as in Python and the GUI), or 'auto' to choose "
        "it by silhouette width",
    )
    p.add_argument("--out", required=True, metavar="OUT.h5ad|OUT.zarr",
                   help="where to write the result (.zarr: a SpatialData store)")
    add_seed_device(p)
    p.add_argument(
        "--key-added", default="domain", metavar="KEY", help="result key (default: domain)"
    )
    p.add_argument("--epochs", type=int, metavar="N", help="training epochs (default: model's)")
    p.add_argument(
        "--no-histology", action="store_true", help="do not weight the spot graph by the H&E image"
    )
    p.set_defaults(func=run)


def _n_domains(value: str) -> int:
    if value.strip().lower() == "auto":
        return 0
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None
    if k < 2:
        raise argparse.ArgumentTypeError(f"need at least 2 domains, got {k}")
    return k


def run(args: argparse.Namespace) -> int:
    from ..tl import domains

    t0 = time.perf_counter()
    adata = read_input(args.input, args)
    params = {} if args.epochs is None else {"epochs": args.epochs}
    # third-party chatter (squidpy's graph log) goes to stderr: stdout is the one summary line
    with contextlib.redirect_stdout(sys.stderr):
        model = domains(
            adata,
            n_domains=args.n_domains,
            key_added=args.key_added,
            use_histology=not args.no_histology,
            seed=args.seed,
            device=args.device,
            **params,
        )
    key = args.key_added
    if key not in adata.obs:
        raise ScdlError(f"domains: no result was written to obs['{key}']")
    out = write_h5ad(adata, args.out)
    n = adata.obs[key].nunique()
    auto = " (chosen automatically)" if args.n_domains == 0 else ""
    print(
        f"domains: {n} domains{auto} on {adata.n_obs} spots in "
        f"{time.perf_counter() - t0:.1f} s (device {model.device}) -> {out}"
    )
    return 0
