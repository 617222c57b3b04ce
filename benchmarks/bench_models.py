"""Every registered model on the DLPFC slide 151673: time, memory, ARI, imputation.

For each model (each in a fresh subprocess, so that peak memory is its own):

* **clustering**: train with its default parameters and ``n_clusters=7`` on the full
  slide; wall time of training + writing, peak resident memory of the process, and the
  adjusted Rand index / NMI of its clusters against ``ground_truth.tsv`` (annotated
  spots only);
* **imputation** (models that write ``layers[f"{key}_imputed"]``): hide 10% of the
  non-zero counts (fixed seed; set to 0), train on the rest, and correlate the imputed
  values of the hidden entries with their true values, both on the log-normalised scale
  ``log1p(1e4 * count / total)``; the baseline imputes each gene's mean log-normalised
  value on the masked data. Pearson r over the hidden entries of the model's genes.

Usage::

    python benchmarks/bench_models.py [--data ../shared/data/dlpfc151673] [--models vae stagate]

Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlpfc151673"
HIDE_FRACTION = 0.1
MASK_SEED = 0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _read(data: Path):
    import pandas as pd

    from napari_scdl.io import read

    adata = read(data)
    truth = pd.read_csv(data / "ground_truth.tsv", sep="\t", index_col=0).iloc[:, 0]
    return adata, truth.reindex(adata.obs_names)


def hide_counts(adata, fraction: float = HIDE_FRACTION, seed: int = MASK_SEED):
    """A copy of ``adata`` with ``fraction`` of its non-zero counts set to 0, and the
    (row, col, true log-normalised value) of the hidden entries."""
    import scipy.sparse as sp

    X = sp.csr_matrix(adata.X, dtype=np.float32, copy=True)
    total = np.asarray(X.sum(1)).ravel()
    rng = np.random.default_rng(seed)
    hidden = rng.choice(X.nnz, int(round(fraction * X.nnz)), replace=False)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[hidden]
    cols = X.indices[hidden]
    true = np.log1p(X.data[hidden] * 1e4 / total[rows])
    X.data[hidden] = 0
    X.eliminate_zeros()
    masked = adata.copy()
    masked.X = X
    return masked, rows, cols, true


def _warm_imports(adata) -> None:
    """Import the heavy libraries and compile squidpy's numba graph code before timing, so
    that no model pays these one-off costs (tens of seconds on a busy machine)."""
    import scanpy  # noqa: F401
    import sklearn.mixture  # noqa: F401
    import torch_geometric.nn  # noqa: F401

    from napari_scdl.graph import build_graph

    build_graph(adata[:50].copy())


def child(name: str, data: Path) -> dict:
    """Run one model (clustering and imputation) and return its measurements."""
    from napari_scdl import metrics
    from napari_scdl.models import get_model
    from napari_scdl.preprocessing import log_normalize
    from napari_scdl.tl import run_model

    adata, truth = _read(data)
    _warm_imports(adata)
    cls = get_model(name)
    params = {"n_clusters": 7} if any(p.name == "n_clusters" for p in cls.params) else {}
    base_mb = _peak_mb()
    t0 = time.perf_counter()
    model = run_model(adata, cls(**params), key_added=name, device="cpu", seed=0)
    out = {
        "model": name,
        "wall_s": time.perf_counter() - t0,
        "peak_mb": _peak_mb(),
        "delta_mb": _peak_mb() - base_mb,
        "threads": getattr(model, "n_threads", None),
    }
    if name in adata.obs:
        out["ari"] = metrics.ari(truth, adata.obs[name])
        out["nmi"] = metrics.nmi(truth, adata.obs[name])
    if f"{name}_imputed" not in adata.layers:
        return out
    masked, rows, cols, true = hide_counts(adata)
    t0 = time.perf_counter()
    run_model(masked, cls(**params), key_added=name, device="cpu", seed=0)
    out["impute_wall_s"] = time.perf_counter() - t0
    genes = masked.uns[name].get("genes", list(masked.var_names))
    in_model = np.isin(cols, masked.var_names.get_indexer(genes))
    r, c, t = rows[in_model], cols[in_model], true[in_model]
    imputed = np.asarray(masked.layers[f"{name}_imputed"][r, c]).ravel()
    gene_mean = np.asarray(log_normalize(masked.X).mean(0)).ravel()[c]
    out["n_hidden"] = int(in_model.sum())
    out["r_model"] = float(np.corrcoef(imputed, t)[0, 1])
    out["r_mean"] = float(np.corrcoef(gene_mean, t)[0, 1])
    return out


def _fmt(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    head = (
        "| model | train+write (s) | masked run (s) | peak RSS (MB) | Δ over data (MB) "
        "| ARI (7) | NMI | imputation r | gene-mean r | hidden entries |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['model']} | {_fmt(r.get('wall_s'), '.1f')} "
            f"| {_fmt(r.get('impute_wall_s'), '.1f')} | {_fmt(r.get('peak_mb'), '.0f')} "
            f"| {_fmt(r.get('delta_mb'), '.0f')} | {_fmt(r.get('ari'), '.3f')} "
            f"| {_fmt(r.get('nmi'), '.3f')} | {_fmt(r.get('r_model'), '.3f')} "
            f"| {_fmt(r.get('r_mean'), '.3f')} | {_fmt(r.get('n_hidden'), 'd')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", nargs="+", help="default: every registered model")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads per model (default 1)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        import os

        os.environ["NAPARI_SCDL_THREADS"] = str(args.threads)  # read by BaseModel.fit_iter
        print(json.dumps(child(args.child, args.data)))
        return 0
    if not args.data.exists():
        sys.exit(f"data not found: {args.data}")
    from napari_scdl.models import list_models

    names = args.models or sorted(list_models())
    rows = []
    for name in names:
        cmd = [
            sys.executable,
            __file__,
            "--data",
            str(args.data),
            "--child",
            name,
            "--threads",
            str(args.threads),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{name} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
            rows.append({"model": f"{name} (failed)"})
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    print(f"DLPFC 151673 ({args.data}), CPU, {rows[0].get('threads', '?')} torch threads\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
