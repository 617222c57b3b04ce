"""Spatial domains across every labelled set at once: one table per change (#18).

Each row is one set; each column group one variant of ``domain_gcn`` (``--variant``),
with the mean ARI over the seeds, its standard deviation and the median wall seconds of
one ``tl.domains`` call (preprocessing, graph, training, clustering; reading excluded).
The last row is the mean over the sets and the worst set: prefer changes that raise the
worst one.

Sets (all with the defaults but ``n_domains`` = number of labels):
- ``151673``: DLPFC Visium slide, 7 expert layers.
- ``A1``, ``D1``: HER2+ breast tumour sections (legacy ST, no image), pathologist labels.
- ``151673-cells``: 151673 as a cell-level table: the array grid removed and every spot
  moved by up to 40% of the spot spacing, so that the graph is built as for segmented
  cells (Delaunay with a distance cut), not from the Visium grid.
- ``syn-easy``, ``syn-noisy``, ``syn-hard``: ``datasets.synthetic_visium(1500, 5 layers)``
  with negative-binomial dispersion 4, 1 and 0.5 (smaller = noisier).
- ``xenium-syn``: ``datasets.synthetic_sample(20000, layout="xenium", 300 genes)``.

``--anchor`` adds the anchor of issue 18 as a column group: log-normalised genes (the
same gene selection), 20 PCs averaged over each spot and its graph neighbours, k-means
(10 starts) — what a user would get from scanpy and squidpy in a few lines.

Every run is a fresh process. Time it on a quiet machine.

    python benchmarks/bench_heldout.py [--seeds 3] [--sets 151673,A1,...] [--anchor]
        [--variant NAME:KEY=VALUE,KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from _common import DATA, measure

from napari_scdl.cli._common import parse_params

REAL = {
    "151673": (DATA / "dlpfc151673", DATA / "dlpfc151673" / "ground_truth.tsv", 7),
    "A1": (DATA / "her2st" / "A1.h5ad", DATA / "her2st" / "A1_ground_truth.tsv", 5),
    "D1": (DATA / "her2st" / "D1.h5ad", DATA / "her2st" / "D1_ground_truth.tsv", 3),
}
SETS = [
    "151673", "A1", "D1", "151673-cells", "151673-panel",
    "syn-easy", "syn-noisy", "syn-hard", "xenium-syn",
]
#: the osmFISH mouse cortex panel (Codeluppi et al. 2018), human symbols
OSMFISH_PANEL = (
    "GAD2 SLC32A1 CRHBP CNR1 VIP CPNE5 PTHLH CRH TBR1 LAMP5 RORB SYT6 KCNIP2 ALDOC GFAP "
    "SERPINF1 MFGE8 SOX10 PLP1 PDGFRA BMP4 ITPR2 TMEM2 CTPS1 KLK6 ANLN MRC1 HEXB TTR FOXJ1 "
    "VTN FLT1 APLN ACTA2 LHX6 SST NPY"
).split()
SYN_DISPERSION = {"syn-easy": 4.0, "syn-noisy": 1.0, "syn-hard": 0.5}


def _truth(tsv, obs_names) -> np.ndarray:
    import pandas as pd

    gt = pd.read_csv(tsv, sep="\t", index_col=0).iloc[:, 0]
    return gt.reindex(obs_names).to_numpy(dtype=object)


def load_set(name: str, seed: int = 0):
    """The AnnData, the truth per spot (None where unlabelled) and the number of domains."""
    from napari_scdl import datasets
    from napari_scdl.io import read

    if name in REAL or name in ("151673-cells", "151673-panel"):
        path, tsv, k = REAL[name.split("-")[0]]
        adata = read(str(path))
        truth = _truth(tsv, adata.obs_names)
        if name.endswith(("-cells", "-panel")):
            rng = np.random.default_rng(1234)  # the same layout for every seed
            xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)
            from scipy.spatial import cKDTree

            spacing = np.median(cKDTree(xy).query(xy, k=2)[0][:, 1])
            adata.obsm["spatial"] = xy + rng.uniform(-0.4, 0.4, xy.shape) * spacing
            adata.obs = adata.obs.drop(columns=["array_row", "array_col"], errors="ignore")
            adata.uns.setdefault("scdl", {})["spatialdata"] = {"geometry": "circle"}
        if name.endswith("-panel"):
            adata = adata[:, adata.var_names.isin(OSMFISH_PANEL)].copy()
        return adata, truth, k
    if name in SYN_DISPERSION:
        adata = datasets.synthetic_visium(
            1500, n_domains=5, seed=100 + seed, image=False, dispersion=SYN_DISPERSION[name]
        )
        return adata, adata.obs["truth"].astype(str).to_numpy(dtype=object), 5
    if name == "xenium-syn":
        adata = datasets.synthetic_sample(20000, layout="xenium", n_genes=300, seed=100 + seed)
        k = int(adata.obs["truth"].nunique())
        return adata, adata.obs["truth"].astype(str).to_numpy(dtype=object), k
    raise SystemExit(f"unknown set {name!r}; choose from {', '.join(SETS)}")


def run_one(name: str, seed: int, params: dict) -> dict:
    from napari_scdl.metrics import ari
    from napari_scdl.tl import domains

    adata, truth, k = load_set(name, seed)
    t0 = time.perf_counter()
    domains(adata, n_domains=k, seed=seed, device="cpu", **params)
    wall = time.perf_counter() - t0
    return {"ari": ari(truth, adata.obs["domain"].to_numpy()), "wall": wall}  # labelled spots


def run_anchor(name: str, seed: int, params: dict) -> dict:
    """Neighbour-averaged PCs + k-means on the same genes and graph as the defaults."""
    from sklearn.cluster import KMeans

    from napari_scdl.graph import build_graph
    from napari_scdl.metrics import ari
    from napari_scdl.preprocessing import log_normalize, pca, select_genes

    adata, truth, k = load_set(name, seed)
    t0 = time.perf_counter()
    genes = select_genes(adata, 3000).mask
    X = log_normalize(adata.X[:, np.flatnonzero(genes)])
    pcs = pca(X, 20, seed=seed, scale=False)
    A = build_graph(adata, n_neighbors=6)
    A = A + sp.identity(A.shape[0], format="csr")
    smooth = sp.diags(1.0 / np.asarray(A.sum(1)).ravel()) @ A @ pcs
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(smooth)
    wall = time.perf_counter() - t0
    return {"ari": ari(truth, labels), "wall": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME:KEY=VALUE,KEY=VALUE (a column group of domain_gcn with other parameters)",
    )
    p.add_argument("--anchor", action="store_true",
                   help="add neighbour-averaged PCs + k-means as a column group")
    args = p.parse_args()
    variants = [("defaults", {})] + ([("anchor", None)] if args.anchor else [])
    for v in args.variant:
        name, _, kv = v.partition(":")
        variants.append((name, parse_params([s for s in kv.split(",") if s])))
    sets = [s for s in args.sets.split(",") if s]
    head = "| set | " + " | ".join(f"{n}: ARI mean ± std | {n}: s" for n, _ in variants) + " |"
    print(head)
    print("|" + "---|" * (1 + 2 * len(variants)))
    per_variant: dict[str, list[float]] = {n: [] for n, _ in variants}
    for s in sets:
        cells = [s]
        for name, params in variants:
            fn = run_anchor if params is None else run_one
            runs = [measure(fn, s, seed, params)["out"] for seed in range(args.seeds)]
            aris = np.array([r["ari"] for r in runs])
            per_variant[name].append(float(aris.mean()))
            cells += [f"{aris.mean():.3f} ± {aris.std():.3f}", f"{np.median([r['wall'] for r in runs]):.1f}"]
        print("| " + " | ".join(cells) + " |", flush=True)
    cells = ["mean / worst"]
    for name, _ in variants:
        v = per_variant[name]
        cells += [f"{np.mean(v):.3f} / {np.min(v):.3f}", ""]
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
