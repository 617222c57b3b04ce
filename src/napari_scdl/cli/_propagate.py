"""``napari-scdl propagate INPUT --labels partial.csv --out OUT.h5ad``: extend a partial
annotation to every spot with the semi-supervised GNN."""

from __future__ import annotations

import argparse
import logging
import sys

from ._common import add_input, add_params, add_seed_device, parse_params, read_input, write_h5ad

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "propagate",
        help="label every spot from a partial annotation (barcode,category CSV)",
        description="Train the semi-supervised graph neural network (semisup_gnn) on the "
        "spots listed in --labels (a Loupe Browser style CSV: barcode,category for some "
        "spots) and write obs['predicted_label'] and obs['predicted_confidence'] for every "
        "spot to --out.",
    )
    add_input(p)
    p.add_argument(
        "--labels",
        required=True,
        metavar="CSV",
        help="barcode,category for some spots (header 'Barcode,<name>' optional)",
    )
    p.add_argument("--out", required=True, metavar="OUT.h5ad|OUT.zarr",
                   help="where to write the result (.zarr: a SpatialData store)")
    p.add_argument(
        "--key",
        default="predicted_label",
        help="obs column of the prediction (default predicted_label)",
    )
    add_params(p, "--param epochs=200")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also write plain spatial label propagation to obs['label_propagation']",
    )
    add_seed_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..annotations.io import match_labels, read_csv_labels
    from ..models.semisup import confidence_key
    from ..tl.propagate import label_propagation, propagate

    params = parse_params(args.param)  # fail before the slow part
    adata = read_input(args.input, args)
    labels = read_csv_labels(args.labels)
    matched, report = match_labels(adata, labels, source=args.labels, column=args.key)
    print(f"napari-scdl propagate: {report}", file=sys.stderr)
    propagate(adata, matched, key_added=args.key, seed=args.seed, device=args.device, **params)
    if args.baseline:
        label_propagation(adata, matched)
    path = write_h5ad(adata, args.out)
    logger.info("wrote %s with obs[%r] and obs[%r]", path, args.key, confidence_key(args.key))
    return 0
