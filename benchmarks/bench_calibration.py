"""Calibration of the per-spot confidence (``obs['domain_confidence']``) of ``domain_gcn``.

A spot is *correct* when its domain's majority expert label (the label most of that
domain's spots carry) is the spot's own expert label; the expected calibration error (ECE,
10 equal-width bins) compares confidence with the fraction correct. Sets: DLPFC 151673 (7
domains), HER2+ sections A1 and D1 (as many domains as pathologist labels: 5 and 3) and
synthetic slides (``datasets.synthetic_visium(1500)``, 5 domains). *Before* is the mixture
posterior of the kept network's domain (what was written before), *after* is
:func:`napari_scdl.clustering.spot_confidence` (what is written now).

Table 2 checks ``semisup_gnn``'s probability on 151673 with 5% of the spots labelled
(drawn at random with the seed), scored on the other 95% (held out): correct = the
predicted layer is the expert one.

    python benchmarks/bench_calibration.py [--seed 0] [--skip-real] [--skip-semisup]
        [--synthetic 3] [--plot docs/images/reliability_domains.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import DATA, measure

SETS = {
    "DLPFC 151673": (DATA / "dlpfc151673", DATA / "dlpfc151673" / "ground_truth.tsv", 7),
    "HER2+ A1": (DATA / "her2st" / "A1.h5ad", DATA / "her2st" / "A1_ground_truth.tsv", 5),
    "HER2+ D1": (DATA / "her2st" / "D1.h5ad", DATA / "her2st" / "D1_ground_truth.tsv", 3),
}
ROOT = Path(__file__).resolve().parents[1]


def _truth(tsv: Path, obs_names) -> np.ndarray:
    import pandas as pd

    gt = pd.read_csv(tsv, sep="\t", index_col=0).iloc[:, 0]
    return gt.reindex(obs_names).to_numpy(dtype=object)


def _posterior_before(adata, model) -> np.ndarray:
    """The mixture posterior of the kept network's domains (the former confidence): the
    same clustering call on the same embedding, seed and starts, so the same labels."""
    from napari_scdl.clustering import cluster_embedding

    info = adata.uns["domain"]
    nets = info["networks"]
    seed = int(np.asarray(nets["seed"])[np.asarray(nets["kept"]).astype(bool)][0])
    hp = model.hparams
    labels, post = cluster_embedding(
        adata.obsm["X_domain"],
        int(info["n_domains"]),
        method=hp["cluster_method"],
        seed=seed,
        adjacency=model._adjacency,
        refine=hp["refine"],
        n_init=hp["mixture_starts"],
        refine_method=hp["refine_method"],
        potts_beta=hp["potts_beta"],
    )
    if not np.array_equal(labels, adata.obs["domain"].astype(int).to_numpy()):
        raise RuntimeError("re-clustering did not give the written domains")
    return post


def run_set(name: str, seed: int) -> dict:
    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.io import read
    from napari_scdl.tl import domains

    if name.startswith("synthetic"):
        adata = synthetic_visium(1500, n_domains=5, seed=int(name.split()[-1]), image=False)
        k, truth = 5, None
    else:
        path, tsv, k = SETS[name]
        adata = read(str(path))
        truth = _truth(tsv, adata.obs_names)
    t0 = time.perf_counter()
    model = domains(adata, n_domains=k, seed=seed, device="cpu")
    wall = time.perf_counter() - t0
    if truth is None:
        truth = adata.obs["truth"].astype(str).to_numpy(dtype=object)
    return {
        "truth": truth,
        "labels": adata.obs["domain"].astype(int).to_numpy(),
        "before": _posterior_before(adata, model),
        "after": adata.obs["domain_confidence"].to_numpy(),
        "wall": wall,
    }


def run_semisup(seed: int, fraction: float = 0.05) -> dict:
    import pandas as pd

    from napari_scdl.io import read
    from napari_scdl.models import get_model

    path, tsv, _ = SETS["DLPFC 151673"]
    adata = read(str(path))
    truth = _truth(tsv, adata.obs_names)
    rng = np.random.default_rng(seed)
    annotated = np.flatnonzero(pd.notna(truth))
    train = rng.choice(annotated, int(round(fraction * len(annotated))), replace=False)
    partial = pd.Series(None, index=adata.obs_names, dtype=object)
    partial.iloc[train] = truth[train]
    adata.obs["annotation"] = partial
    t0 = time.perf_counter()
    model = get_model("semisup_gnn")().fit(adata, device="cpu", seed=seed)
    wall = time.perf_counter() - t0
    held = np.setdiff1d(annotated, train)
    pred = model.get_labels()
    return {
        "confidence": model.get_confidence()[held],
        "correct": (pred[held] == truth[held]).astype(float),
        "wall": wall,
        "method": model.extra_uns().get("confidence_method", "max softmax probability"),
    }


def _row(name: str, out: dict) -> dict:
    from napari_scdl.metrics import ari, expected_calibration_error, majority_correct

    correct = majority_correct(out["truth"], out["labels"])
    ok = np.isfinite(correct)
    return {
        "set": name,
        "ARI": ari(out["truth"], out["labels"].astype(str)),
        "accuracy": float(correct[ok].mean()),
        "ECE before": expected_calibration_error(out["before"][ok], correct[ok]),
        "ECE after": expected_calibration_error(out["after"][ok], correct[ok]),
        ">=0.99 before": float((out["before"] >= 0.99).mean()),
        ">=0.99 after": float((out["after"] >= 0.99).mean()),
        "wall s": out["wall"],
        "_conf": out["after"][ok],
        "_correct": correct[ok],
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_scdl.metrics import reliability_table

    fig, ax = plt.subplots(figsize=(5.2, 5), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect calibration")
    for r in rows:
        t = reliability_table(r["_conf"], r["_correct"])
        t = t[t["n"] >= 5]  # bins with at least 5 spots
        ax.plot(
            t["confidence"],
            t["accuracy"],
            marker="o",
            ms=4,
            label=f"{r['set']} (ECE {r['ECE after']:.3f})",
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="domain_confidence (bin mean, 10 bins)",
        ylabel="fraction of spots whose domain's majority\nexpert label is their own",
        title="Reliability of domain_confidence",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthetic", type=int, default=3, help="synthetic slides (seeds 1..n)")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-semisup", action="store_true")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "images" / "reliability_domains.png"))
    args = ap.parse_args()
    names = [] if args.skip_real else [n for n, v in SETS.items() if v[0].exists()]
    names += [f"synthetic {i}" for i in range(1, args.synthetic + 1)]
    rows = [_row(n, measure(run_set, n, args.seed)["out"]) for n in names]
    cols = [c for c in rows[0] if not c.startswith("_")] if rows else []
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = [r[c] if isinstance(r[c], str) else f"{r[c]:.3f}" for c in cols]
        print("| " + " | ".join(cells) + " |")
    if rows and args.plot:
        plot(rows, Path(args.plot))
        print(f"reliability plot: {args.plot}")
    if not args.skip_semisup and not args.skip_real and SETS["DLPFC 151673"][0].exists():
        from napari_scdl.metrics import expected_calibration_error

        out = measure(run_semisup, args.seed)["out"]
        ece = expected_calibration_error(out["confidence"], out["correct"])
        print(
            f"\nsemisup_gnn, 151673, 5% labelled, held-out spots: accuracy "
            f"{out['correct'].mean():.3f}, mean confidence {out['confidence'].mean():.3f}, "
            f"ECE {ece:.3f}, wall {out['wall']:.1f} s ({out['method']})"
        )


if __name__ == "__main__":
    main()
