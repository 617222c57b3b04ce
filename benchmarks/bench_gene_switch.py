"""How long does switching the painted gene take? (core part: napari_scdl.tl.gene_values)

Times the first call (builds the cached gene-major log-normalised matrix) and then 50
switches between random genes, on the real DLPFC slide and on a synthetic 100,000-spot
sample. Prints a markdown table. Target for the whole switch, napari colouring included:
under 50 ms for 100,000 spots; this part should take a few ms.

    python benchmarks/bench_gene_switch.py [--n-spots 100000] [--n-genes 2000] [--switches 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlpfc151673"


def _time_sample(name: str, adata, n_switch: int, seed: int = 0) -> list[str]:
    from napari_scdl.tl.expression import EXPRESSION_CACHE, gene_values

    EXPRESSION_CACHE.clear()
    rng = np.random.default_rng(seed)
    genes = list(adata.var_names)
    t0 = time.perf_counter()
    gene_values(adata, genes[0])
    first = (time.perf_counter() - t0) * 1e3
    picks = rng.choice(len(genes), size=n_switch, replace=len(genes) < n_switch)
    single, cpu = [], []
    for j in picks:
        t0, c0 = time.perf_counter(), time.process_time()
        gene_values(adata, genes[j])
        single.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    meta = []
    for _ in range(10):
        five = [genes[j] for j in rng.choice(len(genes), size=5, replace=False)]
        t0 = time.perf_counter()
        gene_values(adata, five)
        meta.append((time.perf_counter() - t0) * 1e3)
    single, meta = np.asarray(single), np.asarray(meta)
    return [
        f"| {name} | {adata.n_obs:,} | {adata.n_vars:,} | {first:.0f} | "
        f"{np.median(single):.2f} | {np.percentile(single, 95):.2f} | {single.max():.2f} | "
        f"{np.percentile(cpu, 95):.2f} | {np.median(meta):.2f} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spots", type=int, default=100_000)
    parser.add_argument("--n-genes", type=int, default=2000)
    parser.add_argument("--switches", type=int, default=50)
    args = parser.parse_args()

    from napari_scdl.datasets import synthetic_visium

    rows = [
        "| sample | spots | genes | first call (ms) | switch median (ms) | switch p95 (ms) "
        "| switch max (ms) | switch p95 CPU time (ms) | 5-gene score median (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if DATA.exists():
        from napari_scdl.io import read

        rows += _time_sample("DLPFC 151673", read(DATA), args.switches)
    t0 = time.perf_counter()
    synth = synthetic_visium(args.n_spots, n_genes=args.n_genes, image=False)
    made = time.perf_counter() - t0
    rows += _time_sample("synthetic", synth, args.switches)
    print("\n".join(rows))
    print(
        f"\n(synthetic sample built in {made:.1f} s; wall-clock times except the CPU-time "
        "column, which excludes waiting for a busy CPU)"
    )


if __name__ == "__main__":
    main()
