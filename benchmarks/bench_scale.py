"""Stage-by-stage time and memory of ``domains`` (defaults) on large synthetic samples.

    .venv/bin/python benchmarks/bench_scale.py                      # 10k, 100k, 300k
    .venv/bin/python benchmarks/bench_scale.py --sizes 1000000 --layout visium_hd
    .venv/bin/python benchmarks/bench_scale.py --sizes 10000 --device cuda

Each size runs in its own fresh process (``--one``), so the peak resident memory of a size
is its own. In that process: the synthetic sample is generated
(:func:`napari_scdl.datasets.synthetic_sample`), written to ``.h5ad`` and read back as the
CLI does (``napari-scdl domains`` reads a file), then :func:`napari_scdl.tl.domains` runs
with its defaults while the steps of the model (gene selection, PCA, graph, histology,
training, embedding, clustering, refinement) are timed by wrapping the functions it calls,
and the result is written to ``.h5ad``. Each row: seconds in the step and the process's
peak RSS (``ru_maxrss``) at the end of the step; the step whose row first shows the peak
is the one that set it. ARI is against the synthetic truth (``obs['truth']``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = (
    "generate", "write_input", "read_input", "input", "genes", "pca", "graph", "histology",
    "training", "embed", "reduce", "mixture", "refine", "confidence", "other",
    "write_output",
)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def _rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


class Stages:
    """Seconds and peak RSS per stage (time spent inside wrapped calls, nested calls
    counted once, in the innermost stage)."""

    def __init__(self) -> None:
        self.time: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self._stack: list[list] = []  # [stage, start, child time]

    @contextlib.contextmanager
    def stage(self, name: str):
        self._stack.append([name, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            name, t0, child = self._stack.pop()
            dt = time.perf_counter() - t0
            self.time[name] = self.time.get(name, 0.0) + dt - child
            self.peak[name] = max(self.peak.get(name, 0.0), _peak_gb())
            if self._stack:
                self._stack[-1][2] += dt

    def wrap(self, obj, attr: str, name: str) -> None:
        fn = getattr(obj, attr)

        def timed(*args, **kwargs):
            with self.stage(name):
                return fn(*args, **kwargs)

        setattr(obj, attr, timed)


def _hook(st: Stages) -> None:
    """Time the functions the ``domain_gcn`` model calls (looked up at call time)."""
    import napari_scdl.clustering as cl
    import napari_scdl.graph as gr
    import napari_scdl.histology as hi
    import napari_scdl.preprocessing as pp
    from napari_scdl.models import domain_gcn as dg

    st.wrap(pp, "expression_input", "input")
    st.wrap(pp, "select_genes", "genes")
    st.wrap(pp, "log_normalize", "pca")
    st.wrap(pp, "fit_projection", "pca")
    st.wrap(gr, "build_graph", "graph")
    st.wrap(dg, "gcn_normalize", "graph")
    st.wrap(hi, "spot_image_features", "histology")
    st.wrap(dg, "histology_weights", "histology")
    st.wrap(dg.DomainGCN, "_embed", "embed")
    st.wrap(dg.DomainGCN, "_reduce", "reduce")
    st.wrap(cl, "cluster_embedding", "mixture")
    st.wrap(cl, "refine_labels", "refine")
    st.wrap(cl, "spot_confidence", "confidence")
    st.wrap(cl, "partition_log_likelihood", "confidence")


def run_one(n: int, layout: str, n_genes: int, device: str, workdir: Path, seed: int) -> dict:
    """One size in this process: returns the row (stage times, peaks, ARI, totals)."""
    import warnings

    warnings.filterwarnings("ignore")
    import anndata as ad
    import numpy as np

    from napari_scdl.datasets import synthetic_sample
    from napari_scdl.models import domain_gcn as dg
    from napari_scdl.tl import domains

    st = Stages()
    # training = the networks' optimisation steps (a generator: its iteration is timed)
    orig = dg.DomainGCN._train_network

    def train(self, *args, **kwargs):  # a generator: time its iteration
        gen = orig(self, *args, **kwargs)
        while True:
            with st.stage("training"):
                try:
                    item = next(gen)
                except StopIteration:
                    return
            yield item

    dg.DomainGCN._train_network = train
    _hook(st)
    base = _peak_gb()
    with st.stage("generate"):
        adata = synthetic_sample(n, layout=layout, n_genes=n_genes, seed=seed)
    truth = adata.obs["truth"].to_numpy()
    path = workdir / f"scale_{layout}_{n}.h5ad"
    with st.stage("write_input"):
        adata.write_h5ad(path)
    del adata
    with st.stage("read_input"):
        adata = ad.read_h5ad(path)
    t0 = time.perf_counter()
    with st.stage("other"), contextlib.redirect_stdout(sys.stderr):
        domains(adata, seed=seed, device=device)  # its own time minus the hooked steps
    wall_domains = time.perf_counter() - t0
    out = workdir / f"scale_{layout}_{n}_out.h5ad"
    with st.stage("write_output"):
        adata.write_h5ad(out)
    from sklearn.metrics import adjusted_rand_score

    ari = float(adjusted_rand_score(truth, adata.obs["domain"].to_numpy()))
    for p in (path, out):
        p.unlink(missing_ok=True)
    end_to_end = wall_domains + st.time["read_input"] + st.time["write_output"]
    return {
        "n": int(adata.n_obs), "layout": layout, "n_genes": int(adata.n_vars),
        "nnz_per_spot": float(adata.X.nnz / adata.n_obs), "device": device,
        "time": st.time, "peak": st.peak, "start_gb": base, "peak_gb": _peak_gb(),
        "ari": ari, "domains_s": wall_domains, "end_to_end_s": end_to_end,
        "threads": int(os.environ.get("NAPARI_SCDL_THREADS", "0") or 0),
        "seed": seed, "np": np.__version__,
    }


def run_tools(n: int, layout: str, n_genes: int, seed: int) -> dict:
    """Markers (Wilcoxon, 10 groups: a sample of 10 layers, ``obs['truth']``) and Moran's
    I of 1,000 genes at ``n`` spots, in this process."""
    import warnings

    warnings.filterwarnings("ignore")
    from napari_scdl.datasets import synthetic_sample
    from napari_scdl.tl import markers, spatially_variable_genes

    t0 = time.perf_counter()
    adata = synthetic_sample(n, layout=layout, n_genes=n_genes, n_domains=10, seed=seed)
    gen = time.perf_counter() - t0
    peak_gen = _peak_gb()
    t0 = time.perf_counter()
    df = markers(adata, "truth")
    t_mk = time.perf_counter() - t0
    peak_mk = _peak_gb()
    t0 = time.perf_counter()
    svg = spatially_variable_genes(adata, n_top_genes=1000)
    t_svg = time.perf_counter() - t0
    t0 = time.perf_counter()  # again: squidpy imported and the graph kernel compiled
    spatially_variable_genes(adata, n_top_genes=1000)
    t_svg2 = time.perf_counter() - t0
    return {"moran_again_s": t_svg2, "n": n, "layout": layout, "generate_s": gen, "generate_peak_gb": peak_gen,
            "markers_s": t_mk, "markers_peak_gb": peak_mk, "markers_rows": len(df),
            "moran_s": t_svg, "moran_genes": len(svg), "peak_gb": _peak_gb()}


def table(rows: list[dict]) -> str:
    """Markdown table: one row per stage, a column pair (s, peak GB) per size."""
    head = "| stage | " + " | ".join(f"{r['layout']} {r['n']:,} s | peak GB" for r in rows) + " |"
    sep = "|---|" + "---:|---:|" * len(rows)
    lines = [head, sep]
    for s in STAGES:
        if not any(s in r["time"] for r in rows):
            continue
        cells = []
        for r in rows:
            t, p = r["time"].get(s), r["peak"].get(s)
            cells += [f"{t:.1f}" if t is not None else "", f"{p:.2f}" if p is not None else ""]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("| **domains end to end** (read + run + write) | " + " | ".join(
        f"**{r['end_to_end_s']:.0f}** | **{r['peak_gb']:.2f}**" for r in rows) + " |")
    lines.append("| ARI vs synthetic truth | " + " | ".join(
        f"{r['ari']:.3f} | " for r in rows) + " |")
    lines.append("| non-zeros per spot | " + " | ".join(
        f"{r['nnz_per_spot']:.0f} | " for r in rows) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,300000",
                    help="comma-separated numbers of spots (1000000 is opt-in)")
    ap.add_argument("--layout", default="visium_hd", choices=("visium", "visium_hd", "xenium"))
    ap.add_argument("--n-genes", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--workdir", default=None, help="where the .h5ad files go (temporary)")
    ap.add_argument("--tools", action="store_true",
                    help="time markers (Wilcoxon, 10 groups) and Moran's I (1,000 genes) "
                         "instead of domains")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="scdl_scale_"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    if args.one:
        row = (run_tools(sizes[0], args.layout, args.n_genes, args.seed) if args.tools else
               run_one(sizes[0], args.layout, args.n_genes, args.device, workdir, args.seed))
        print("ROW " + json.dumps(row))
        return 0
    rows = []
    for n in sizes:
        cmd = [sys.executable, __file__, "--one", "--sizes", str(n), "--layout", args.layout,
               "--n-genes", str(args.n_genes), "--device", args.device, "--seed",
               str(args.seed), "--workdir", str(workdir)] + (["--tools"] if args.tools else [])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        row = next((json.loads(line[4:]) for line in proc.stdout.splitlines()
                    if line.startswith("ROW ")), None)
        if row is None:
            print(f"{args.layout} {n}: failed after {time.perf_counter() - t0:.0f} s\n"
                  + proc.stderr[-3000:], file=sys.stderr)
            continue
        rows.append(row)
        if args.tools:
            print(f"{args.layout} {n:,}: generate {row['generate_s']:.1f} s, markers "
                  f"{row['markers_s']:.1f} s, Moran's I {row['moran_genes']} genes "
                  f"{row['moran_s']:.1f} s (again in the same process {row['moran_again_s']:.1f} s), "
                  f"peak {row['peak_gb']:.2f} GB", flush=True)
            continue
        print(f"{args.layout} {n:,}: end to end {row['end_to_end_s']:.0f} s, peak "
              f"{row['peak_gb']:.2f} GB, ARI {row['ari']:.3f}", flush=True)
    if rows and not args.tools:
        print(table(rows))
    if args.json and rows:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if len(rows) == len(sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
