"""``napari-scdl drug-response INPUT --bulk BULK --response RESP --out OUT.h5ad``: predict
per spot the probability of sensitivity to a drug from bulk data (scDEAL-like)."""

from __future__ import annotations

import argparse
import sys

from ._common import add_input, add_params, add_seed_device, parse_params, read_input, write_h5ad


def add_parser(sub) -> None:
    p = sub.add_parser(
        "drug-response",
        help="drug sensitivity per spot from bulk expression + response tables",
        description="Train the drug_response model on --bulk (samples x genes) and --response "
        "(per bulk sample: sensitive/resistant or an IC50) with alignment to the spots, and "
        "write obs[KEY] (probability of sensitivity), obs[KEY_confidence], obs[KEY_label] "
        "and uns[KEY]['attributions'] to --out.",
    )
    add_input(p)
    p.add_argument("--bulk", required=True, metavar="BULK", help=".csv/.tsv/.h5ad, samples x genes")
    p.add_argument("--response", required=True, metavar="RESP",
                   help=".csv/.tsv: sample, response (first column, or --param response_key=)")
    p.add_argument("--out", required=True, metavar="OUT.h5ad|OUT.zarr", help="where to write")
    p.add_argument("--key", default="drug_response", help="obs column of the result")
    add_params(p, "--param sensitive_label=S --param epochs=50")
    add_seed_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tl import run_model

    params = parse_params(args.param) | {"bulk": args.bulk, "response": args.response}
    adata = read_input(args.input, args)
    run_model(adata, "drug_response", key_added=args.key, seed=args.seed, device=args.device,
              **params)
    p = adata.obs[args.key]
    print(f"napari-scdl drug-response: mean probability of sensitivity {p.mean():.2f}; "
          f"{int((p > 0.5).sum())} of {adata.n_obs} spots sensitive", file=sys.stderr)
    write_h5ad(adata, args.out)
    return 0
