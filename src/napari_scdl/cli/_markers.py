"""``napari-scdl markers INPUT --groupby COLUMN --out markers.csv``: marker genes per group."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from ..errors import DataFormatError
from ._common import add_input, read_input

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "markers",
        help="marker genes of each group (domain, cluster, annotation) as a CSV table",
        description="Differential expression of each group of obs[COLUMN] against the rest "
        "(or against --reference): writes group, gene, log2fc, pct_in, pct_out, score, pval, "
        "pval_adj (Benjamini-Hochberg) to --out.",
    )
    add_input(p)
    p.add_argument(
        "--groupby",
        required=True,
        metavar="COLUMN",
        help="obs column holding the groups (e.g. the key of `napari-scdl domains`)",
    )
    p.add_argument("--out", required=True, metavar="CSV", help="where to write the table")
    p.add_argument(
        "--reference",
        default="rest",
        metavar="GROUP",
        help="compare with this group instead of all other spots (default: rest)",
    )
    p.add_argument("--groups", nargs="+", metavar="GROUP", help="test only these groups")
    p.add_argument(
        "--method",
        choices=["wilcoxon", "t-test"],
        default="wilcoxon",
        help="statistical test (default wilcoxon)",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="TSV/CSV of barcode,label to use as the grouping COLUMN (e.g. a "
        "ground truth); spots not listed are left out",
    )
    p.add_argument("--layer", help="expression layer to use instead of X")
    p.add_argument(
        "--min-pct",
        type=float,
        default=0.0,
        help="test only genes detected in at least this fraction of either side",
    )
    p.add_argument("--top-n", type=int, help="keep only the N best genes of each group")
    p.set_defaults(func=run)


def read_labels(path: str | Path, obs_names) -> pd.Series:
    """Labels from a two-column TSV/CSV (barcode, label; header optional), indexed like obs."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"labels file {path} does not exist")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    table = pd.read_csv(path, sep=sep, header=None, dtype=str, comment=None)
    if table.shape[1] < 2:
        raise DataFormatError(
            f"labels file {path} needs two columns (barcode{sep!r}label); found {table.shape[1]}"
        )
    obs = pd.Index(obs_names.astype(str))
    if not obs.isin([table.iat[0, 0]]).any():  # first row is a header
        table = table.iloc[1:]
    labels = pd.Series(table.iloc[:, 1].to_numpy(), index=table.iloc[:, 0].to_numpy())
    labels = labels[~labels.index.duplicated()]
    found = obs.isin(labels.index)
    if not found.any():
        raise DataFormatError(
            f"no barcode of {path} matches the spots of the input (e.g. {obs[0]!r} vs "
            f"{labels.index[0] if len(labels) else 'nothing'!r}); check the file matches the sample"
        )
    logger.info("labels for %d of %d spots from %s", found.sum(), len(obs), path)
    return labels.reindex(obs)


def run(args: argparse.Namespace) -> int:
    from ..tl.markers import export_markers_csv, filter_markers, markers

    adata = read_input(args.input, args)
    if args.labels:
        if args.groupby in adata.obs.columns:
            logger.warning(
                "obs[%r] of the input is replaced by the labels of %s", args.groupby, args.labels
            )
        labels = read_labels(args.labels, adata.obs_names)
        adata.obs[args.groupby] = pd.Categorical(labels.to_numpy())
    df = markers(
        adata,
        args.groupby,
        groups=args.groups or "all",
        reference=args.reference,
        method=args.method,
        layer=args.layer,
        min_pct=args.min_pct,
    )
    if args.top_n is not None:
        df = filter_markers(df, pval_adj_max=None, log2fc_min=None, top_n=args.top_n)
    out = export_markers_csv(df, args.out)
    print(f"wrote {out} ({len(df)} rows, {df['group'].nunique()} groups)")
    return 0
