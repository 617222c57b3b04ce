"""Joint domains over a cohort (``napari_scdl.tl.cohort_domains``) against separate runs.

Slides: DLPFC 151673 plus ``--copies`` perturbed copies of it (each gene's counts scaled
by a copy-specific factor ``exp(N(0, --effect))``, then Poisson-resampled: a planted slide
effect), plus any other annotated Space Ranger folders given with ``--slides`` (e.g. the
held-out DLPFC slides, each with its ``ground_truth.tsv``). For each slide: ARI of the
joint model and of a separate ``tl.domains`` run against the expert layers, ARI between
the two; then, for each ground-truth layer, the domain id most of its spots get on each
slide under the joint model, and whether that id is the same on every slide.

With ``--corrections center harmony none`` the joint model runs once per slide correction.
With ``--adjacent`` the last copy is also rotated by 30 degrees and shifted, and declared an
adjacent section of 151673 (one block): the benchmark reports the recovered transform and
how often facing spots of the two get the same domain.

    python benchmarks/bench_cohort.py [--copies 2] [--effect 0.5] [--seed 0]
        [--corrections center harmony] [--adjacent] [--slides DIR ...]
        [--param KEY=VALUE ...]

Time it on a quiet machine (torch slows down several-fold on shared cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import DATA, ari_annotated, load_truth

from napari_scdl.cli._common import parse_params

SAMPLE = DATA / "dlpfc151673"


def perturbed_copy(adata, seed: int, effect: float):
    rng = np.random.default_rng([seed, 104729])
    b = adata.copy()
    factor = np.exp(rng.normal(0.0, effect, b.n_vars)).astype(np.float32)
    X = sp.csr_matrix(b.X, dtype=np.float32).multiply(factor[None, :]).tocsr()
    X.data = rng.poisson(X.data).astype(np.float32)
    X.eliminate_zeros()
    b.X = X
    return b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--effect", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-domains", type=int, default=7)
    ap.add_argument("--slides", nargs="*", default=[], type=Path)
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--corrections", nargs="+", default=["center", "harmony"])
    ap.add_argument("--adjacent", action="store_true")
    args = ap.parse_args()
    params = parse_params(args.param)

    from napari_scdl.io import read
    from napari_scdl.tl import cohort_domains, domains

    base = read(SAMPLE)
    slides = {"151673": base}
    truth = {"151673": load_truth(SAMPLE, base.obs_names)}
    for i in range(args.copies):
        sid = f"151673_effect{i + 1}"
        slides[sid] = perturbed_copy(base, i + 1, args.effect)
        truth[sid] = truth["151673"]
    blocks, moved = None, None
    if args.adjacent and args.copies:
        sid = f"151673_effect{args.copies}"
        th = np.deg2rad(30.0)
        R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        t = np.array([800.0, -500.0])
        slides[sid].obsm["spatial"] = np.asarray(base.obsm["spatial"], float) @ R.T + t
        slides[sid].uns.pop("spatial", None)  # the image no longer matches the spots
        blocks, moved = {"151673": "B", sid: "B"}, (sid, R, t)
    for folder in args.slides:
        slides[folder.name] = read(folder)
        truth[folder.name] = load_truth(folder, slides[folder.name].obs_names)

    separate, t_sep = {}, 0.0
    for sid, a in slides.items():
        b = a.copy()
        t0 = time.perf_counter()
        domains(b, n_domains=args.n_domains, seed=args.seed, **params)
        t_sep += time.perf_counter() - t0
        separate[sid] = b.obs["domain"].astype(str).to_numpy()
    rows = {sid: {"slide": sid, "spots": a.n_obs,
                  "ARI separate": round(ari_annotated(separate[sid], truth[sid]), 3)}
            for sid, a in slides.items()}
    notes = []
    for corr in args.corrections:
        t0 = time.perf_counter()
        res = cohort_domains([a.copy() for a in slides.values()], sample_ids=list(slides),
                             n_domains=args.n_domains, seed=args.seed, correction=corr,
                             blocks=blocks, **params)
        t_joint = time.perf_counter() - t0
        layer_ids = {}
        for sid, a in res.adatas.items():
            joint = a.obs["domain"].astype(str).to_numpy()
            ok = np.array([isinstance(t, str) for t in truth[sid]])
            rows[sid][f"ARI joint {corr}"] = round(ari_annotated(joint, truth[sid]), 3)
            rows[sid][f"joint {corr} vs separate"] = round(
                ari_annotated(joint, separate[sid].astype(object)), 3)
            tab = pd.crosstab(pd.Series(truth[sid][ok], name="layer"), pd.Series(joint[ok]))
            layer_ids[sid] = tab.idxmax(axis=1)
        ids = pd.DataFrame(layer_ids)
        ids["same id on all slides"] = ids.nunique(axis=1) == 1
        print(f"\n[{corr}] majority joint domain id of each ground-truth layer, per slide")
        print(ids.to_string())
        notes.append(f"{corr}: layers with one id on all slides "
                     f"{int(ids['same id on all slides'].sum())}/{len(ids)}, joint {t_joint:.0f} s")
        if moved is not None:
            sid, R, t = moved
            al = res.adatas[sid].uns["domain"]["alignment"]
            err = (al["angle_deg"] + 30.0 + 180) % 360 - 180
            shift_err = np.linalg.norm(np.asarray(al["shift"]) + R.T @ t) / al["spacing_px"]
            same = (res.adatas["151673"].obs["domain"].astype(str).to_numpy()
                    == res.adatas[sid].obs["domain"].astype(str).to_numpy()).mean()
            notes.append(f"{corr}: {sid} aligned onto 151673: angle error {err:.2f} deg, "
                         f"shift error {shift_err:.2f} spacings, {al['n_edges']} edges across; "
                         f"facing spots with the same domain {same:.3f}")
    print()
    print(pd.DataFrame(list(rows.values())).to_string(index=False))
    print("\n" + "\n".join(notes))
    print(f"separate runs {t_sep:.0f} s in all (seed {args.seed}, params "
          f"{params or 'defaults'})")


if __name__ == "__main__":
    main()
