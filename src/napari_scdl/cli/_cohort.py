"""``napari-scdl cohort MANIFEST.csv --n-domains K --out DIR``: joint domains over slides."""

from __future__ import annotations

import contextlib
import sys
import time

from ._common import add_params, add_seed_device, parse_params
from ._domains import _n_domains


def add_parser(sub) -> None:
    p = sub.add_parser(
        "cohort",
        help="joint spatial domains over several slides (dask.distributed)",
        description="One domain model over all slides of MANIFEST (CSV: sample_id,path and "
        "optional metadata columns such as donor, condition): the same domain id is the same "
        "tissue on every slide. Reading and writing each slide run as dask.distributed "
        "tasks (a local cluster, or --scheduler); the joint model trains on one worker. "
        "Writes DIR/<sample_id>.h5ad, DIR/cohort_summary.csv, DIR/cohort_markers.csv, "
        "DIR/cohort_proportions.png, DIR/<sample_id>_domains.png and DIR/cohort_model.pt. "
        "A rerun skips complete slides. An optional manifest column 'block' names slides "
        "that are adjacent sections of one tissue block: they are aligned and linked in "
        "the spot graph.",
    )
    p.add_argument("manifest", metavar="MANIFEST.csv", help="CSV with columns sample_id,path")
    p.add_argument("--n-domains", default=7, metavar="K", type=_n_domains,
                   help="number of domains over the cohort (default 7), or 'auto'")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_seed_device(p)
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler of an existing cluster (e.g. tcp://host:8786); its "
                   "workers must see the manifest's paths (default: a local cluster)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="workers of the local cluster (default: cores - 1, at most 4)")
    p.add_argument("--threads", action="store_true",
                   help="local workers as threads of this process, not processes (small runs)")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="retries of a failed slide task before it is reported (default 1)")
    p.add_argument("--epochs", type=int, metavar="N", help="training epochs (default: model's)")
    p.add_argument("--no-histology", action="store_true",
                   help="do not weight the spot graphs by the H&E images")
    p.add_argument("--correction", choices=("center", "harmony", "none"), default="center",
                   help="slide-effect correction: genes centred per slide (default), "
                   "centred then Harmony on the PCs (harmonypy), or none")
    p.add_argument("--no-figures", action="store_true",
                   help="do not write DIR/<sample_id>_domains.png and "
                   "DIR/cohort_proportions.png")
    add_params(p, "n_top_genes=2000")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cohort import run_cohort

    t0 = time.perf_counter()
    params = parse_params(args.param)
    if args.epochs is not None:
        params["epochs"] = args.epochs

    stdout = sys.stdout  # one line per slide here; third-party chatter goes to stderr

    def say(sample_id: str, status: str, message: str) -> None:
        if sample_id != "cohort" or status == "training":
            print(f"{sample_id}: {status} {message}", file=stdout, flush=True)

    with contextlib.redirect_stdout(sys.stderr):
        run_ = run_cohort(
            args.manifest, n_domains=args.n_domains, out_dir=args.out, seed=args.seed,
            device=args.device, scheduler=args.scheduler, workers=args.workers,
            retries=args.retries, processes=not args.threads,
            use_histology=not args.no_histology, correction=args.correction,
            figures=not args.no_figures, on_event=say, **params,
        )
    ok = sum(v in ("done", "skipped") for v in run_.status.values())
    failed = [s for s, v in run_.status.items() if v == "failed"]
    print(
        f"cohort: {ok}/{len(run_.status)} slides with joint domains "
        f"({sum(v == 'skipped' for v in run_.status.values())} kept from an earlier run"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + f") in {time.perf_counter() - t0:.1f} s, cohort {run_.cohort_id} -> "
        f"{run_.out_dir / 'cohort_summary.csv'}",
        file=stdout,
    )
    return 1 if failed else 0

