"""Joint domains over a cohort (``napari_scdl.tl.cohort_domains``) against separate runs.

Slides: DLPFC 151673 plus ``--copies`` perturbed copies of it (each gene's counts scaled
by a copy-specific factor ``exp(N(0, --effect))``, then Poisson-resampled: a planted slide
effect), plus any other annotated Space Ranger folders given with ``--slides`` (e.g. the
held-out DLPFC slides, each with its ``ground_truth.tsv``). For each slide: ARI of the
joint model and of a separate ``tl.domains`` run against the expert layers, ARI between
the two; then, for each ground-truth layer, the domain id most of its spots get on each
slide under the joint model, and whether that id is the same on every slide.

    python benchmarks/bench_cohort.py [--copies 2] [--effect 0.5] [--seed 0]
        [--slides DIR ...] [--param KEY=VALUE ...]

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
    t0 = time.perf_counter()
    res = cohort_domains([a.copy() for a in slides.values()], sample_ids=list(slides),
                         n_domains=args.n_domains, seed=args.seed, **params)
    t_joint = time.perf_counter() - t0

    rows, layer_ids = [], {}
    for sid, a in res.adatas.items():
        joint = a.obs["domain"].astype(str).to_numpy()
        ok = np.array([isinstance(t, str) for t in truth[sid]])
        rows.append({
            "slide": sid,
            "spots": a.n_obs,
            "ARI joint": round(ari_annotated(joint, truth[sid]), 3),
            "ARI separate": round(ari_annotated(separate[sid], truth[sid]), 3),
            "ARI joint vs separate": round(ari_annotated(joint, separate[sid].astype(object)), 3),
        })
        tab = pd.crosstab(pd.Series(truth[sid][ok], name="layer"), pd.Series(joint[ok]))
        layer_ids[sid] = tab.idxmax(axis=1)
    print(pd.DataFrame(rows).to_string(index=False))
    ids = pd.DataFrame(layer_ids)
    ids["same id on all slides"] = ids.nunique(axis=1) == 1
    print("\nmajority joint domain id of each ground-truth layer, per slide")
    print(ids.to_string())
    print(f"\nlayers with one id on all slides: {int(ids['same id on all slides'].sum())}"
          f"/{len(ids)}; joint {t_joint:.0f} s, separate runs {t_sep:.0f} s in all "
          f"(seed {args.seed}, params {params or 'defaults'})")


if __name__ == "__main__":
    main()
