"""A copy-number-like signal from expression (after inferCNV).

Tickle et al., inferCNV of the Trinity CTAT Project (Broad Institute); Patel et al. (2014),
Science 344:1396. Expression of each spot, relative to the mean of reference (normal)
spots, is averaged over a sliding window of neighbouring genes along each chromosome: a
gain or loss of a chromosome arm shifts many neighbouring genes together and stands out,
while one gene's own regulation averages away. Clones of a tumour are usually told apart by
this signal rather than by expression.

Gene positions come from a table the user gives: a GTF (``gene`` lines, ``gene_name`` or
``gene_id``), a BED (chrom, start, end, name) or a tab/comma separated table with columns
gene, chromosome, start (names matched loosely), or from ``adata.var`` when it already has
``chromosome`` and ``start`` columns.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ScdlError

logger = logging.getLogger(__name__)

_CHROM = ("chromosome", "chrom", "chr", "seqname", "seqnames", "contig")
_START = ("start", "gene_start", "chromstart", "start_position", "position")
_GENE = ("gene", "gene_name", "gene_symbol", "symbol", "name", "gene_id", "id")


def read_gene_positions(path: str | Path) -> pd.DataFrame:
    """Gene positions from a GTF, a BED or a table; index: gene, columns ``chromosome``, ``start``.

    Raises :class:`ScdlError` naming the file when it cannot be read as any of these.
    """
    path = Path(path)
    if not path.exists():
        raise ScdlError(f"gene position file {path} not found")
    name = path.name.lower().removesuffix(".gz")
    try:
        if name.endswith((".gtf", ".gff", ".gff3")):
            df = _read_gtf(path)
        elif name.endswith(".bed"):
            df = pd.read_csv(path, sep="\t", header=None, comment="#", usecols=[0, 1, 3])
            df.columns = ["chromosome", "start", "gene"]
        else:
            df = _read_table(path)
    except ScdlError:
        raise
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's format
        raise ScdlError(f"cannot read gene positions from {path}: {err}") from err
    df = df.dropna(subset=["chromosome", "start", "gene"])
    df["start"] = pd.to_numeric(df["start"], errors="coerce")
    df = df.dropna(subset=["start"]).drop_duplicates("gene").set_index("gene")
    if df.empty:
        raise ScdlError(f"{path} holds no gene positions (gene, chromosome, start)")
    df["chromosome"] = df["chromosome"].astype(str)
    return df[["chromosome", "start"]]


def _read_table(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep=None, engine="python")
    cols = {c.lower().strip(): c for c in df.columns}

    def pick(options):
        return next((cols[o] for o in options if o in cols), None)

    chrom, start, gene = pick(_CHROM), pick(_START), pick(_GENE)
    if gene is None and df.index.name is None and chrom is not None:
        gene = df.columns[0] if df.columns[0] not in (chrom, start) else None
    missing = [w for w, c in (("gene", gene), ("chromosome", chrom), ("start", start)) if c is None]
    if missing:
        raise ScdlError(
            f"{path}: no column for {missing} (columns: {list(df.columns)}); a gene position "
            "table needs gene, chromosome and start columns"
        )
    return pd.DataFrame({"gene": df[gene].astype(str), "chromosome": df[chrom], "start": df[start]})


def _read_gtf(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", header=None, comment="#", usecols=[0, 2, 3, 8],
                     names=["chromosome", "feature", "start", "attr"])
    df = df[df["feature"] == "gene"] if (df["feature"] == "gene").any() else df
    name = df["attr"].str.extract(r'gene_name "([^"]+)"')[0]
    gid = df["attr"].str.extract(r'gene_id "([^"]+)"')[0]
    return pd.DataFrame({"gene": name.fillna(gid), "chromosome": df["chromosome"],
                         "start": df["start"]})


def gene_positions_of(adata, path: str | Path | None = None) -> pd.DataFrame:
    """Positions of ``adata``'s genes: from ``path`` if given, else ``adata.var`` columns
    ``chromosome``/``start``. Raises :class:`ScdlError` when neither has them."""
    if path:
        pos = read_gene_positions(path)
    elif {"chromosome", "start"} <= set(adata.var.columns):
        pos = adata.var[["chromosome", "start"]].dropna()
    else:
        raise ScdlError(
            "no gene positions: give a GTF, BED or gene-position table (gene, chromosome, "
            "start), or add var['chromosome'] and var['start']"
        )
    return pos


def _chrom_order(c: str):
    s = re.sub(r"^chr", "", str(c), flags=re.IGNORECASE)
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def cnv_signal(
    L: np.ndarray,
    genes: list[str],
    positions: pd.DataFrame,
    *,
    reference: np.ndarray | None = None,
    window: int = 101,
    clip: float = 3.0,
    min_genes: int = 20,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Copy-number-like signal of log expression ``L`` (spots x ``genes``).

    Parameters
    ----------
    L
        Log-normalised expression, dense.
    positions
        Gene positions (:func:`read_gene_positions`); genes without one are left out.
    reference
        Boolean mask of the reference (normal) spots; their mean is subtracted from every
        gene (default: the mean of all spots).
    window
        Genes in the moving average along each chromosome (shorter chromosomes use all of
        their genes).
    clip
        Relative expression is clipped to +-``clip`` before smoothing (inferCNV's default 3).

    Returns
    -------
    signal, genes, chromosomes
        Spots x genes in genomic order (each row centred on its median, as inferCNV
        does), the genes and the chromosome of each.
    """
    known = [g for g in genes if g in positions.index]
    if len(known) < min_genes:
        raise ScdlError(
            f"only {len(known)} of the {len(genes)} genes have a position in the gene table "
            f"(at least {min_genes} are needed); check that the table uses the same gene names"
        )
    pos = positions.loc[known]
    order = sorted(range(len(known)), key=lambda i: (_chrom_order(pos["chromosome"].iloc[i]),
                                                     float(pos["start"].iloc[i])))
    ordered = [known[i] for i in order]
    col = {g: j for j, g in enumerate(genes)}
    X = np.asarray(L, dtype=np.float64)[:, [col[g] for g in ordered]]
    ref = X[reference] if reference is not None and reference.any() else X
    X = np.clip(X - ref.mean(0), -clip, clip)
    chroms = [str(positions.loc[g, "chromosome"]) for g in ordered]
    out = np.empty_like(X)
    chrom_arr = np.asarray(chroms)
    for c in dict.fromkeys(chroms):
        idx = np.flatnonzero(chrom_arr == c)
        out[:, idx] = _moving_average(X[:, idx], min(window, len(idx)))
    out -= np.median(out, axis=1, keepdims=True)
    logger.info("cnv_signal: %d spots x %d genes on %d chromosomes", *out.shape,
                len(set(chroms)))
    return out.astype(np.float32), ordered, chroms


def _moving_average(X: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average over columns with a window of ``w`` (shrunk at the ends)."""
    if w <= 1:
        return X.copy()
    half = w // 2
    c = np.cumsum(np.pad(X, ((0, 0), (1, 0))), axis=1)
    n = X.shape[1]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (c[:, hi] - c[:, lo]) / (hi - lo)
