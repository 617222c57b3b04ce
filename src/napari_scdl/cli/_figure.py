"""``napari-scdl figure INPUT --color-by COLUMN_OR_GENE --out fig.png``: a publication figure."""

from __future__ import annotations

import argparse
import sys

from ._common import add_input


def add_parser(sub) -> None:
    p = sub.add_parser(
        "figure",
        help="PNG of the tissue with spots coloured by a column or gene, legend and scale bar",
        description="Render the tissue image with the spots coloured by an obs column "
        "(legend) or a gene / comma-separated genes (colorbar of the log-normalised "
        "expression or their mean score), with a scale bar in micrometres, using napari "
        "itself. Needs a display: on a server run it as "
        "`xvfb-run -a napari-scdl figure INPUT --color-by MOBP --out fig.png`.",
    )
    add_input(p)
    p.add_argument(
        "--color-by",
        required=True,
        metavar="COLUMN_OR_GENE",
        help="obs column (e.g. the key of `napari-scdl domains`), a gene, or "
        "several genes separated by commas (meta-gene score)",
    )
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the figure")
    p.add_argument("--dpi", type=int, default=300, help="resolution (default 300)")
    p.add_argument(
        "--width",
        type=float,
        default=6.0,
        metavar="INCHES",
        help="width of the tissue panel in inches (default 6)",
    )
    p.add_argument("--cmap", default="viridis", help="colormap for values (default viridis)")
    p.add_argument("--vmin", type=float, help="lower contrast limit (default: minimum)")
    p.add_argument("--vmax", type=float, help="upper contrast limit (default: maximum)")
    p.add_argument("--layer", help="expression layer for genes, e.g. gnn_imputed (default X)")
    p.add_argument(
        "--agg",
        choices=["mean", "sum"],
        default="mean",
        help="how several genes combine (default mean)",
    )
    p.add_argument("--title", help="title above the image")
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="TSV/CSV of barcode,label added as obs column COLUMN_OR_GENE first "
        "(e.g. a ground truth annotation)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..figure import export_figure, has_display
    from ._common import read_input

    if not has_display():
        print(
            "napari-scdl figure: no display found; napari renders the figure, so run it "
            "under a virtual display, e.g.\n  xvfb-run -a napari-scdl figure "
            f"{args.input} --color-by {args.color_by} --out {args.out}",
            file=sys.stderr,
        )
        return 2
    adata = read_input(args.input, args)
    if args.labels:
        import pandas as pd

        from ._markers import read_labels

        labels = read_labels(args.labels, adata.obs_names)
        adata.obs[args.color_by] = pd.Categorical(labels.to_numpy())
    clim = (args.vmin, args.vmax) if args.vmin is not None or args.vmax is not None else None
    out = export_figure(
        adata,
        args.color_by,
        args.out,
        layer=args.layer,
        agg=args.agg,
        cmap=args.cmap,
        clim=clim,
        dpi=args.dpi,
        width_in=args.width,
        title=args.title,
    )
    print(f"wrote {out}")
    return 0
