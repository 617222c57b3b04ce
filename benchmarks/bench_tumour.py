"""Tumour subclones and gene programs (issue 17): prints the tables of docs/tumours.md.

    .venv/bin/python benchmarks/bench_tumour.py [synthetic] [her2] [programs] [dlpfc]

* ``synthetic``: planted subclones with outlier spikes (tests/tumour_fixtures.py), ARI of the
  robust autoencoder and of a plain one of the same size, on expression and on the CNV signal.
* ``her2``: the HER2+ sections A1, D1, cancer spots (pathologist labels) as the region.
* ``programs``: planted layer programs, precision of the top genes, HGT attention vs Wilcoxon.
* ``dlpfc``: 151673 grouped by the expert layers; known markers in each program's top 20.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SHARED = ROOT.parent / "shared" / "data"

KNOWN = {  # layer markers of Maynard et al. 2021 (spatialLIBD) and the myelin genes of WM
    "Layer1": ["AQP4", "GFAP", "RELN", "MT1G"], "Layer2": ["HPCAL1", "CUX2", "LAMP5", "CALB2"],
    "Layer3": ["CARTPT", "CUX2", "NEFH", "CALB1"], "Layer4": ["RORB", "NEFH", "PCP4", "SYT2"],
    "Layer5": ["PCP4", "FEZF2", "TRABD2A", "VAT1L"], "Layer6": ["NR4A2", "KRT17", "SEMA3E", "CCN2"],
    "WM": ["MBP", "PLP1", "MOBP"],
}


def _ari(truth, pred) -> float:
    from sklearn.metrics import adjusted_rand_score

    m = truth.notna().to_numpy() & pred.notna().to_numpy()
    return adjusted_rand_score(truth[m].astype(str), pred[m].astype(str))


def synthetic(seeds=(0, 1, 2)) -> None:
    from tumour_fixtures import synthetic_tumour

    from napari_scdl.tl import run_model

    print("| seed | signal | robust AE ARI | plain AE ARI | robust s | plain s |\n|---|---|---|---|---|---|")
    for seed in seeds:
        a = synthetic_tumour(600, seed=seed)
        for signal in ("expression", "cnv"):
            res = []
            for robust in (True, False):
                t = time.perf_counter()
                run_model(a, "subclones", region="annotation=tumour", n_subclones=3,
                          signal=signal, robust=robust, key_added="s", seed=seed)
                res.append((_ari(a.obs["clone_truth"], a.obs["s"]), time.perf_counter() - t))
            print(f"| {seed} | {signal} | {res[0][0]:.3f} | {res[1][0]:.3f} | "
                  f"{res[0][1]:.1f} | {res[1][1]:.1f} |", flush=True)


def her2() -> None:
    import anndata as ad

    from napari_scdl.tl import run_model

    cancer = ["invasive cancer", "cancer in situ"]
    print("| section | region spots | subclones (silhouette) | sizes | top markers per subclone | ARI vs invasive/in situ | s |")
    print("|---|---|---|---|---|---|---|")
    for name in ("A1", "D1"):
        a = ad.read_h5ad(SHARED / "her2st" / f"{name}.h5ad")
        gt = pd.read_csv(SHARED / "her2st" / f"{name}_ground_truth.tsv", sep="\t").set_index("barcode")
        a.obs["pathology"] = pd.Categorical(gt["layer"].reindex(a.obs_names))
        present = [c for c in cancer if (a.obs["pathology"] == c).any()]
        t = time.perf_counter()
        run_model(a, "subclones", region="pathology=" + ",".join(present), seed=0)
        dt = time.perf_counter() - t
        uns = a.uns["subclone"]
        k = a.obs["subclone"].nunique()
        mk = uns["markers"]
        tops = "; ".join(f"{g}: " + ", ".join(df["gene"][:3])
                         for g, df in mk.groupby("group", sort=False))
        ari = _ari(a.obs["pathology"].where(a.obs["subclone"].notna()), a.obs["subclone"])
        print(f"| {name} | {int(uns['n_region_spots'])} | {k} ({float(uns['k_scores'][str(k)]):.3f}) | "
              f"{list(map(int, uns['tree']['sizes']))} | {tops} | {ari:.3f} | {dt:.1f} |", flush=True)
        a.write_h5ad(f"/tmp/bench_tumour_{name}.h5ad")


def programs() -> None:
    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.tl import markers, run_model

    print("| seed | spots x genes | planted per layer | HGT precision@n | Wilcoxon precision@n | s |\n|---|---|---|---|---|---|")
    for seed in (0, 1):
        a = synthetic_visium(600, n_domains=4, n_genes=300, seed=seed, image=False)
        n = int(a.var_names.str.startswith("MK1_").sum())
        t = time.perf_counter()
        run_model(a, "gene_programs", groupby="truth", seed=seed)
        dt = time.perf_counter() - t

        def prec(df, n=n):
            vals = []
            for g, d in df.groupby("group", sort=False, observed=True):
                top = d.sort_values("score", ascending=False, kind="stable")["gene"][:n]
                vals.append(np.mean([x.startswith(f"MK{str(g)[-1]}_") for x in top]))
            return float(np.mean(vals))

        hgt, wil = prec(a.uns["gene_programs"]["programs"]), prec(markers(a, "truth"))
        print(f"| {seed} | {a.n_obs} x {a.n_vars} | {n} | {hgt:.3f} | {wil:.3f} | {dt:.1f} |", flush=True)


def dlpfc(epochs: int = 20, max_genes: int = 50) -> None:
    import napari_scdl as scdl
    from napari_scdl.tl import run_model

    a = scdl.io.read(SHARED / "dlpfc151673")
    gt = pd.read_csv(SHARED / "dlpfc151673" / "ground_truth.tsv", sep="\t").set_index("barcode")
    a.obs["layer"] = pd.Categorical(gt["layer"].reindex(a.obs_names))
    t = time.perf_counter()
    run_model(a, "gene_programs", groupby="layer", epochs=epochs, max_genes_per_spot=max_genes)
    print(f"151673, {a.n_obs} spots, epochs={epochs}, max_genes_per_spot={max_genes}: "
          f"{time.perf_counter() - t:.0f} s")
    prog = a.uns["gene_programs"]["programs"]
    print("| group | known markers in the top 20 | top 10 |\n|---|---|---|")
    for g, genes in KNOWN.items():
        top = list(prog[prog["group"] == g]["gene"])
        hits = [f"{x} ({top.index(x) + 1})" for x in genes if x in top[:20]]
        print(f"| {g} | {', '.join(hits) or '-'} | {', '.join(top[:10])} |", flush=True)
    a.write_h5ad("/tmp/bench_tumour_dlpfc.h5ad")


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    parts = sys.argv[1:] or ["synthetic", "her2", "programs", "dlpfc"]
    for part in parts:
        print(f"\n## {part}\n")
        globals()[part]()
