"""Spatial-domain accuracy and cost of ``domain_gcn`` (``napari_scdl.tl.domains``).

Table 1, on the real DLPFC slide 151673 (7 domains, scored with the adjusted Rand index
against ``ground_truth.tsv`` over annotated spots): ARI mean / min / std over seeds, wall
seconds per run (preprocessing, graph, training and clustering; reading excluded) and
the peak resident memory of the process, for ``domain_gcn`` and, in the same run, the
non-spatial scanpy baseline (log-normalise, 3000 HVGs, scale, 50 PCs, then Leiden
bisected to 7 clusters, or k-means).

Table 2, synthetic samples (``datasets.synthetic_visium(n, image=False)``, 5 domains):
wall time and peak memory on CPU as the number of spots grows.

Every run is a fresh process (memory belongs to that run alone). Time it on a quiet
machine: torch slows down several-fold when another busy process shares the cores.

    python benchmarks/bench_domains.py [--seeds 5] [--quick] [--skip-real] [--skip-scale]
        [--param KEY=VALUE ...] [--variant KEY=VALUE,KEY=VALUE ...]

``--variant`` adds a row of ``domain_gcn`` with other parameters to the real-slide table
(e.g. ``--variant n_networks=1,w_contrastive=0.1``: the single network of before).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import DATA, ari_annotated, load_truth, measure

from napari_scdl.cli._common import parse_params

SAMPLE = DATA / "dlpfc151673"


def run_ours(path: str, seed: int, n_domains: int, params: dict) -> dict:
    from napari_scdl.io import read
    from napari_scdl.tl import domains

    adata = read(path)
    t0 = time.perf_counter()
    model = domains(adata, n_domains=n_domains, seed=seed, device="cpu", **params)
    wall = time.perf_counter() - t0
    return {
        "labels": adata.obs["domain"].to_numpy().astype(str),
        "wall": wall,
        "obs_names": list(adata.obs_names),
        "device": model.device,
    }


def run_baseline(path: str, seed: int, n_domains: int, method: str) -> dict:
    import scanpy as sc

    from napari_scdl.clustering import cluster_embedding
    from napari_scdl.io import read
    from napari_scdl.preprocessing import select_hvg

    adata = read(path)
    t0 = time.perf_counter()
    adata = adata[:, select_hvg(adata, 3000)].copy()  # seurat_v3 (or seurat without skmisc)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, max_value=10)
    sc.pp.pca(adata, n_comps=50, random_state=seed)
    labels, _ = cluster_embedding(adata.obsm["X_pca"], n_domains, method=method, seed=seed)
    wall = time.perf_counter() - t0
    return {"labels": labels.astype(str), "wall": wall, "obs_names": list(adata.obs_names)}


def run_synthetic(n_spots: int, seed: int, params: dict) -> dict:
    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.tl import domains

    adata = synthetic_visium(n_spots, n_domains=5, seed=seed, image=False)
    t0 = time.perf_counter()
    domains(adata, n_domains=5, seed=seed, device="cpu", **params)
    wall = time.perf_counter() - t0
    return {"wall": wall, "ari": ari_annotated(adata.obs["domain"], adata.obs["truth"].astype(str))}


def table_real(seeds: list[int], params: dict, variants: list[dict] = ()) -> list[str]:
    rows = [
        "| method | ARI mean | ARI min | ARI std | wall s / run | peak memory (MB) |",
        "|---|---|---|---|---|---|",
    ]
    methods = [
        ("domain_gcn (ours)", run_ours, {"params": params}),
        *(
            (
                "domain_gcn, " + ", ".join(f"{k}={v}" for k, v in variant.items()),
                run_ours,
                {"params": {**params, **variant}},
            )
            for variant in variants
        ),
        ("scanpy PCA + Leiden (non-spatial)", run_baseline, {"method": "leiden"}),
        ("scanpy PCA + KMeans (non-spatial)", run_baseline, {"method": "kmeans"}),
    ]
    for name, fn, kw in methods:
        aris, walls, peaks = [], [], []
        for seed in seeds:
            res = measure(fn, str(SAMPLE), seed, 7, **kw)
            out = res["out"]
            truth = load_truth(SAMPLE, out["obs_names"])
            aris.append(ari_annotated(out["labels"], truth))
            walls.append(out["wall"])
            peaks.append(res["peak_mb"])
            print(f"  {name} seed {seed}: ARI {aris[-1]:.3f}, {walls[-1]:.1f} s", flush=True)
        a = np.asarray(aris)
        rows.append(
            f"| {name} | {a.mean():.3f} | {a.min():.3f} | {a.std():.3f} | "
            f"{np.mean(walls):.1f} | {max(peaks):.0f} |"
        )
    return rows


def table_scale(sizes: list[int], params: dict) -> list[str]:
    rows = ["| spots | wall s | peak memory (MB) | ARI vs truth |", "|---|---|---|---|"]
    for n in sizes:
        res = measure(run_synthetic, n, 0, params)
        rows.append(
            f"| {n:,} | {res['out']['wall']:.1f} | {res['peak_mb']:.0f} | {res['out']['ari']:.3f} |"
        )
        print(f"  {n} spots: {res['out']['wall']:.1f} s, {res['peak_mb']:.0f} MB", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds on the real slide (default 5)")
    p.add_argument("--quick", action="store_true", help="skip the 100,000-spot sample")
    p.add_argument("--skip-real", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="domain_gcn parameter (repeatable)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also score domain_gcn with these parameters, a row each (repeatable)",
    )
    args = p.parse_args()
    params = parse_params(args.param)
    variants = [parse_params(v.split(",")) for v in args.variant]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpu cores: {os.cpu_count()}, load average at start: {load:.1f}")
    out = []
    if not args.skip_real and SAMPLE.exists():
        out += ["", f"DLPFC 151673 (3,639 spots), seeds 0..{args.seeds - 1}:", ""]
        out += table_real(list(range(args.seeds)), params, variants)
    if not args.skip_scale:
        sizes = [10_000, 30_000] + ([] if args.quick else [100_000])
        out += ["", "Synthetic samples (CPU, 5 domains):", ""]
        out += table_scale(sizes, params)
    print("\n".join(out))


if __name__ == "__main__":
    main()
