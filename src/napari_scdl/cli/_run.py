"""``napari-scdl run MODEL INPUT --out OUT.h5ad``: train any registered model headless
(or apply a saved one with ``--load-model``)."""

from __future__ import annotations

import argparse
import logging

from ..errors import ScdlError
from ._common import add_input, add_params, add_seed_device, parse_params, read_input, write_h5ad

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="train a model (see `napari-scdl models`) and write its results to an .h5ad",
        description="Train MODEL on INPUT and write the AnnData with the model's results "
        "(obsm X_KEY, obs KEY, layers KEY_imputed, uns KEY) to --out. With --load-model, "
        "apply a saved model to INPUT without training (same genes needed).",
    )
    p.add_argument("model", metavar="MODEL", help="registered model name (`napari-scdl models`)")
    add_input(p)
    p.add_argument("--out", required=True, metavar="OUT.h5ad|OUT.zarr",
                   help="where to write the result (.zarr: a SpatialData store)")
    add_params(p, "--param epochs=50 --param n_clusters=7")
    add_seed_device(p)
    p.add_argument("--key-added", metavar="KEY", help="result key (default: the model's name)")
    p.add_argument("--save-model", metavar="M.pt", help="also save the trained model here")
    p.add_argument(
        "--load-model",
        metavar="M.pt",
        help="apply this saved model instead of training (its params are used)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models import BaseModel, get_model
    from ..tl import run_model

    model_cls = get_model(args.model)
    params = parse_params(args.param)
    if args.load_model and params:
        raise ScdlError(
            "--param cannot be combined with --load-model: a saved model keeps its own parameters"
        )
    adata = read_input(args.input, args)
    key = args.key_added or model_cls.default_key or model_cls.name
    if args.load_model:
        model = BaseModel.load(args.load_model, device=args.device)
        if model.name != model_cls.name:
            raise ScdlError(f"{args.load_model} holds a {model.name!r} model, not {args.model!r}")
        model.transform(adata)
        written = model.write(adata, key)
        logger.info("applied %s from %s: wrote %s", model.name, args.load_model, ", ".join(written))
    else:
        model = run_model(
            adata, model_cls(**params), key_added=key, device=args.device, seed=args.seed
        )
    if args.save_model:
        model.save(args.save_model)
    path = write_h5ad(adata, args.out)
    print(f"{model.name}: results under key {key!r} written to {path}")
    return 0
