"""``napari-scdl transfer QUERY --reference REF.h5ad --labels-key KEY --out OUT.h5ad``: carry
the labels (or label proportions) of a reference to the spots of a sample."""

from __future__ import annotations

import argparse
import logging
import sys

from ._common import add_input, add_params, add_seed_device, parse_params, read_input, write_h5ad

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="transfer labels or label proportions from an annotated reference",
        description="Train the domain-adversarial transfer model on --reference (a "
        "single-cell atlas or an annotated slide, labels in obs[--labels-key]) and write "
        "obs[KEY], obs[KEY_confidence], obsm[KEY_proba|KEY_proportions] and the per-label "
        "p-values/FDR against a shuffled-label null (obsm[KEY_pvalue], obsm[KEY_fdr]) to --out.",
    )
    add_input(p)
    p.add_argument("--reference", metavar="REF.h5ad",
                   help="annotated reference (.h5ad or any sample napari-scdl reads)")
    p.add_argument("--labels-key", metavar="KEY",
                   help="obs column of the reference with the labels")
    p.add_argument("--out", required=True, metavar="OUT.h5ad|OUT.zarr", help="where to write")
    p.add_argument("--mode", choices=("labels", "proportions"), default="labels",
                   help="one label per spot, or the share of every label (default labels)")
    p.add_argument("--key", default="transferred_label", help="obs column of the result")
    p.add_argument("--save-model", metavar="MODEL.pt", help="also save the trained model")
    p.add_argument("--load-model", metavar="MODEL.pt",
                   help="apply a saved transfer model instead of training (no --reference needed)")
    add_params(p, "--param epochs=50 --param n_null=2")
    add_seed_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ScdlError
    from ..models import BaseModel
    from ..tl.transfer import transfer

    if not args.load_model and not (args.reference and args.labels_key):
        raise ScdlError("give --reference REF.h5ad and --labels-key KEY (or --load-model)")
    params = parse_params(args.param)  # fail before the slow part
    adata = read_input(args.input, args)
    if args.load_model:
        model = BaseModel.load(args.load_model, device=args.device).transform(adata)
        model.write(adata, args.key)
    else:
        model = transfer(adata, args.reference, labels_key=args.labels_key, mode=args.mode,
                         key_added=args.key, seed=args.seed, device=args.device, **params)
    if args.save_model:
        model.save(args.save_model)
    counts = adata.obs[args.key].value_counts()
    print(f"napari-scdl transfer: {adata.n_obs} spots; "
          + ", ".join(f"{k}: {v}" for k, v in counts.items() if v), file=sys.stderr)
    path = write_h5ad(adata, args.out)
    logger.info("wrote %s with obs[%r]", path, args.key)
    return 0
