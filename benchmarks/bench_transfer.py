"""Evidence for model ``transfer`` (issue 16): labels and proportions from a reference,
scored on held-out data, against plain baselines in the same run.

(a) Labels, reference -> query, accuracy and macro-F1 on the query's own labels (never
    seen by the model):
    * synthetic: ``synthetic_visium`` seed 0 -> seeds 1 and 2 with a platform shift (each
      gene of the query multiplied by a random log-normal factor, sd 0.5);
    * DLPFC 151673, spatial hold-out: expert layers of the spots left of the median x as
      reference, the spots to the right as query;
    * HER2+ A1 -> D1 and D1 -> A1: a pathologist-labelled section as reference for the
      other (scored on the labels both share).
    Baseline: logistic regression on 50 PCs of the shared genes; ablations: no alignment
    (``adv_weight=0``), no smoothing, genes scaled on the reference (``gene_scaling``).
(b) Proportions: pseudo-spots made by summing 2-8 random *held-out* query spots, whose
    label proportions are therefore known; Pearson r over all (spot, label) entries and
    RMSE, against non-negative least squares on the reference's mean profiles.

(c) drug_response (scDEAL-like) on a planted sensitive region, adapted vs not adapted.

    python benchmarks/bench_transfer.py [--seed 0] [--skip-real] [--epochs 30] [--drug-only]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import DATA


def _f1(truth, pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, pred, average="macro"))


def _labelled(path, tsv, key="label"):
    from napari_scdl.io import read

    a = read(path)
    gt = pd.read_csv(tsv, sep="\t", index_col=0).iloc[:, 0]
    a.obs[key] = gt.reindex(a.obs_names).to_numpy(dtype=object)
    return a[a.obs[key].notna().to_numpy()].copy()


def label_sets(seed: int, real: bool):
    from napari_scdl.datasets import synthetic_visium

    ref = synthetic_visium(1500, n_domains=5, n_genes=300, seed=seed, image=False)
    ref.obs["label"] = ref.obs["truth"].astype(str)
    for s in (1, 2):
        q = synthetic_visium(1500, n_domains=5, n_genes=300, seed=seed + s, image=False)
        rng = np.random.default_rng(seed + 10 * s)
        factor = np.exp(rng.normal(0, 0.5, q.n_vars)).astype(np.float32)
        q.X = np.round(q.X.multiply(factor[None, :]).tocsr())
        q.obs["label"] = q.obs["truth"].astype(str)
        yield f"synthetic 0 -> {seed + s} (shifted)", ref, q
    if not real:
        return
    d = _labelled(DATA / "dlpfc151673", DATA / "dlpfc151673" / "ground_truth.tsv")
    x = d.obsm["spatial"][:, 0]
    left = x < np.median(x)
    yield "DLPFC 151673 left -> right", d[left].copy(), d[~left].copy()
    h = DATA / "her2st"
    a1 = _labelled(h / "A1.h5ad", h / "A1_ground_truth.tsv")
    d1 = _labelled(h / "D1.h5ad", h / "D1_ground_truth.tsv")
    yield "HER2+ A1 -> D1", a1, d1
    yield "HER2+ D1 -> A1", d1, a1


def bench_labels(seed: int, real: bool, epochs: int) -> list[dict]:
    from napari_scdl import tl
    from napari_scdl.tl.transfer import logreg_baseline

    rows = []
    for name, ref, q in label_sets(seed, real):
        truth = q.obs["label"].astype(str).to_numpy()
        shared = np.isin(truth, ref.obs["label"].astype(str).unique())
        row = {"set": name, "n_ref": ref.n_obs, "n_query": q.n_obs}
        t0 = time.perf_counter()
        pred, _, _ = logreg_baseline(q, ref, labels_key="label", seed=seed)
        row["logreg acc"] = float((pred == truth)[shared].mean())
        row["logreg F1"] = _f1(truth[shared], pred[shared])
        for label, extra in (("transfer", {}), ("no align", {"adv_weight": 0.0}),
                             ("no smooth", {"smooth": 0.0}),
                             ("ref-scaled", {"gene_scaling": "reference"})):
            a = q.copy()
            t0 = time.perf_counter()
            tl.transfer(a, ref, labels_key="label", seed=seed, device="cpu", n_null=0,
                        epochs=epochs, **extra)
            p = a.obs["transferred_label"].astype(str).to_numpy()
            row[f"{label} acc"] = float((p == truth)[shared].mean())
            if label == "transfer":
                row["transfer F1"] = _f1(truth[shared], p[shared])
                row["transfer s"] = time.perf_counter() - t0
                conf = a.obs["transferred_label_confidence"].to_numpy()
                row["mean conf"] = float(conf[shared].mean())
        rows.append(row)
        print(_fmt(row), flush=True)
    return rows


def _mixtures(q, n_spots: int, seed: int):
    import anndata as ad

    from napari_scdl.models.transfer import pseudo_spot_design
    from napari_scdl.preprocessing import counts_matrix

    M = pseudo_spot_design(q.n_obs, n_spots, 8, np.random.default_rng(seed + 99))
    codes = pd.Categorical(q.obs["label"].astype(str))
    truth = np.asarray(M @ np.eye(len(codes.categories))[codes.codes])
    truth = pd.DataFrame(truth / truth.sum(1, keepdims=True), columns=codes.categories)
    mix = ad.AnnData(X=(M @ counts_matrix(q)).astype(np.float32), var=q.var[[]].copy())
    truth.index = mix.obs_names
    return mix, truth


def bench_proportions(seed: int, real: bool, epochs: int) -> list[dict]:
    from napari_scdl import tl
    from napari_scdl.tl.transfer import nnls_baseline

    rows = []
    for name, ref, q in label_sets(seed, real):
        mix, truth = _mixtures(q, 800, seed)
        cols = [c for c in truth.columns if c in set(ref.obs["label"].astype(str))]
        t0 = time.perf_counter()
        tl.transfer(mix, ref, labels_key="label", mode="proportions", seed=seed, device="cpu",
                    n_null=0, epochs=epochs)
        wall = time.perf_counter() - t0
        P = mix.obsm["transferred_label_proportions"]
        m2 = mix.copy()
        tl.transfer(m2, ref, labels_key="label", mode="proportions", seed=seed, device="cpu",
                    n_null=0, epochs=epochs, gene_scaling="reference")
        P2 = m2.obsm["transferred_label_proportions"]
        W = nnls_baseline(mix, ref, labels_key="label")
        T = truth[cols].to_numpy()
        row = {"set": name, "n_mix": mix.n_obs}
        for label, est in (("transfer", P), ("ref-scaled", P2), ("NNLS", W)):
            E = est[cols].to_numpy()
            row[f"{label} r"] = float(np.corrcoef(E.ravel(), T.ravel())[0, 1])
            row[f"{label} RMSE"] = float(np.sqrt(((E - T) ** 2).mean()))
        row["transfer s"] = wall
        rows.append(row)
        print(_fmt(row), flush=True)
    return rows


def bench_drug(seed: int, epochs: int) -> list[dict]:
    """(c) drug_response: bulk samples = sums of 30 spots of one synthetic slide, sensitive
    when their Layer1 share is above the median; spots: other slides, with a platform shift
    (genes x log-normal factor, sd 0.5) or not. AUC and accuracy of P(sensitive) against the
    planted truth (Layer1 = sensitive), with and without alignment (``adv_weight=0``)."""
    import sys
    from pathlib import Path

    from sklearn.metrics import roc_auc_score

    from napari_scdl.models import get_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_drug_response import _bulk_and_spots

    rows = []
    for s in range(3):
        bulk, resp, spots = _bulk_and_spots(n_bulk=120, seed=seed + s)
        for shift in (0.0, 0.5):
            q = spots.copy()
            if shift:
                f = np.exp(np.random.default_rng(seed + s).normal(0, shift, q.n_vars))
                q.X = np.round(q.X.multiply(f[None, :].astype(np.float32)).tocsr())
            truth = (q.obs["truth"].astype(str) == "Layer1").to_numpy()
            row = {"slide": f"synthetic seed {seed + s}", "shift sd": shift}
            for label, adv in (("adapted", 0.3), ("not adapted", 0.0)):
                m = get_model("drug_response")(epochs=epochs, adv_weight=adv)
                m.set_bulk(bulk, resp).fit(q, device="cpu", seed=seed)
                p = m.proba[:, m.categories.index("sensitive")]
                row[f"{label} AUC"] = float(roc_auc_score(truth, p))
                row[f"{label} acc"] = float(((p > 0.5) == truth).mean())
            rows.append(row)
            print(_fmt(row), flush=True)
    return rows


def _fmt(row: dict) -> str:
    return " | ".join(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}"
                      for k, v in row.items())


def _table(rows: list[dict]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f"{r.get(c, ''):.3f}" if isinstance(r.get(c), float)
                                     else str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--drug-only", action="store_true", help="only (c), drug_response")
    args = ap.parse_args()
    if args.drug_only:
        print("\n(c) drug response, planted sensitive region\n" + _table(bench_drug(args.seed, args.epochs)))
        return
    real = not args.skip_real and (DATA / "dlpfc151673").exists()
    labels = bench_labels(args.seed, real, args.epochs)
    props = bench_proportions(args.seed, real, args.epochs)
    print("\n(a) label transfer, held-out query labels\n" + _table(labels))
    print("\n(b) proportions of pseudo-spots mixed from held-out spots\n" + _table(props))
    print("\n(c) drug response, planted sensitive region\n" + _table(bench_drug(args.seed, args.epochs)))


if __name__ == "__main__":
    main()
