"""Learning from a partial annotation on the real DLPFC slide 151673.

Labels 5% of the spots of each ground-truth layer (random, fixed seed), trains the
semi-supervised GNN (``napari_scdl.tl.propagate``, default parameters) and plain spatial
label propagation over the neighbour graph (``tl.label_propagation``) and scores both on
the unlabelled annotated spots (accuracy, ARI). Then 3 rounds of active learning each add
1% of the spots (``tl.suggest_spots``, the ground truth playing the pathologist) against
the same number of random additions. Prints one markdown table.

With ``--draws N`` a second table scores the 5% step alone on N label draws.

    python benchmarks/bench_propagate.py [--seed 0] [--device auto] [--fraction 0.05] [--draws 5]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlpfc151673"


def initial_labels(truth: pd.Series, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask: ``fraction`` of the spots of each layer, chosen at random."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(truth), dtype=bool)
    for layer in sorted(truth.dropna().unique()):
        idx = np.flatnonzero(truth.to_numpy() == layer)
        keep[rng.choice(idx, max(1, int(round(fraction * len(idx)))), replace=False)] = True
    return keep


def score(pred: pd.Series, truth: pd.Series, labelled: np.ndarray) -> tuple[float, float]:
    from napari_scdl.metrics import ari

    test = ~labelled & truth.notna().to_numpy()
    p, t = pred.astype(str).to_numpy()[test], truth.astype(str).to_numpy()[test]
    return float(np.mean(p == t)), ari(t, p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--step", type=float, default=0.01, help="fraction added per round")
    ap.add_argument("--strategy", default="diverse", choices=["diverse", "uncertainty"])
    ap.add_argument(
        "--draws",
        type=int,
        default=0,
        help="also score the 5%% step on this many label draws (seeds 0..N-1), a second table",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from napari_scdl import tl
    from napari_scdl.io import read

    adata = read(DATA)
    truth = pd.read_csv(DATA / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
    truth = truth.reindex(adata.obs_names)
    unannotated = np.flatnonzero(truth.isna().to_numpy())
    step = int(round(args.step * adata.n_obs))
    rows = []

    def run(method: str, labelled: np.ndarray, al_adata=None) -> None:
        labels = truth[labelled]
        t0 = time.perf_counter()
        if method.startswith("label propagation"):
            pred = tl.label_propagation(adata, labels, key_added=None)
        else:
            target = al_adata if al_adata is not None else adata
            tl.propagate(target, labels, seed=args.seed, device=args.device)
            pred = target.obs["predicted_label"]
        acc, ari_ = score(pred, truth, labelled)
        rows.append(
            (
                method,
                int(labelled.sum()),
                100 * labelled.mean(),
                acc,
                ari_,
                time.perf_counter() - t0,
            )
        )
        logging.warning("%s %d labelled: acc %.3f ARI %.3f", method, labelled.sum(), acc, ari_)

    base = initial_labels(truth, args.fraction, args.seed)
    run("label propagation", base)
    run("semisup_gnn", base)
    active, rand = base.copy(), base.copy()
    rng = np.random.default_rng(args.seed + 1)
    al = adata.copy()  # holds the 5% model's prediction, the first suggestions' source
    for r in range(1, args.rounds + 1):
        sug = tl.suggest_spots(
            al,
            n=step,
            strategy=args.strategy,
            seed=args.seed + r,
            exclude=np.r_[unannotated, np.flatnonzero(active)],
        )
        active[sug["index"].to_numpy()] = True
        run(f"semisup_gnn + active learning ({args.strategy}), round {r}", active, al)
        pool = np.flatnonzero(~rand & truth.notna().to_numpy())
        rand[rng.choice(pool, step, replace=False)] = True
        run(f"semisup_gnn + random additions, round {r}", rand)
    run("label propagation + random additions (last round)", rand)

    print(
        f"\nDLPFC 151673, {adata.n_obs} spots; {args.fraction:.0%} of each layer labelled "
        f"(seed {args.seed}); scored on the unlabelled annotated spots\n"
    )
    print("| method | labelled spots | labelled % | accuracy | ARI | time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for m, n, pct, acc, ari_, t in rows:
        print(f"| {m} | {n} | {pct:.1f} | {acc:.3f} | {ari_:.3f} | {t:.1f} |")
    if args.draws:
        print_draws(adata, truth, args)


def print_draws(adata, truth: pd.Series, args) -> None:
    """Accuracy of label propagation and of the GNN on ``args.draws`` label draws."""
    from napari_scdl import tl

    acc: dict[str, list[float]] = {"label propagation": [], "semisup_gnn": []}
    for draw in range(args.draws):
        labelled = initial_labels(truth, args.fraction, draw)
        labels = truth[labelled]
        pred = tl.label_propagation(adata, labels, key_added=None)
        acc["label propagation"].append(score(pred, truth, labelled)[0])
        tl.propagate(adata, labels, seed=draw, device=args.device)
        acc["semisup_gnn"].append(score(adata.obs["predicted_label"], truth, labelled)[0])
        logging.warning("draw %d: %s", draw, {k: round(v[-1], 3) for k, v in acc.items()})
    print(f"\n{args.fraction:.0%} labelled, label draws (and seeds) 0..{args.draws - 1}\n")
    print("| method | accuracy mean | min | max | per draw |")
    print("|---|---:|---:|---:|---|")
    for m, a in acc.items():
        per = ", ".join(f"{v:.3f}" for v in a)
        print(f"| {m} | {np.mean(a):.3f} | {np.min(a):.3f} | {np.max(a):.3f} | {per} |")


if __name__ == "__main__":
    main()
