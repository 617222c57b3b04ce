"""Wall time of every registered model with its defaults at 200, 3,600 and 30,000 spots,
and on the shapes of real slides that used to fail (issue 12).

Sizes: a 200-spot section cropped from DLPFC 151673, the whole slide (3,639 spots) and the
package's synthetic sample at 30,000 spots. Shapes (about 300 spots each, from
``tests/robust_fixtures.py``): a CytAssist-like sparse slide (median 230 UMIs, 2,000 genes
seen once, 8,000 never), a 150-spot section, a 33-gene panel of log-normalised floats,
scaled values and a legacy ST grid (HER2+ A1).

Each run is a fresh process (``_common.measure``): the time is training + writing, after
reading; libraries are imported and squidpy's graph code compiled before the clock starts.
``semisup_gnn`` gets a third of the spots labelled by position (two categories); models
that need a reference or bulk data of the user's (``transfer``, ``drug_response``) are
listed as such.

Usage::

    python benchmarks/bench_model_sizes.py [--models domain_gcn vae] [--sizes 200 3600]
        [--no-shapes]

Prints two markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import measure  # noqa: E402

SIZES = (200, 3600, 30000)
SHAPES = ("sparse", "tiny", "panel33", "scaled", "legacy_st")


def _sample(size: int):
    if size >= 10_000:
        from napari_scdl.datasets import synthetic_visium

        return synthetic_visium(size, n_domains=7, n_genes=2000, seed=0)
    from robust_fixtures import crop, read_dlpfc

    a = read_dlpfc()
    return a if size >= a.n_obs else crop(a, size)


def _shape(name: str):
    from robust_fixtures import (
        crop,
        her2_section,
        panel_table,
        read_dlpfc,
        scaled_table,
        sparse_slide,
    )

    if name == "legacy_st":
        return her2_section("A1")
    full = read_dlpfc()
    small = crop(full, 300)
    return {
        "sparse": lambda: sparse_slide(small),
        "tiny": lambda: crop(full, 150),
        "panel33": lambda: panel_table(small),
        "scaled": lambda: scaled_table(small),
    }[name]()


def run_one(model: str, size: int | None = None, shape: str | None = None) -> dict:
    """Build the input (not timed), then time ``run_model`` with the model's defaults."""
    import time

    import numpy as np

    warnings.filterwarnings("ignore")
    import scanpy  # noqa: F401
    import torch_geometric.nn  # noqa: F401

    from napari_scdl.graph import build_graph
    from napari_scdl.models import get_model
    from napari_scdl.tl import run_model

    adata = _sample(size) if shape is None else _shape(shape)
    build_graph(adata[:50].copy())
    cls = get_model(model)
    if any(p.name == "labels_key" for p in cls.params):  # semisup_gnn: partial labels
        x = np.asarray(adata.obsm["spatial"])[:, 0]
        lab = np.where(x < np.median(x), "left", "right").astype(object)
        lab[np.arange(adata.n_obs) % 3 != 0] = None
        adata.obs["annotation"] = lab
    t0 = time.perf_counter()
    m = run_model(adata, cls(), device="cpu", seed=0)
    wall = time.perf_counter() - t0
    key = m.default_key or m.name
    return {"n_obs": adata.n_obs, "wall": wall, "warnings": len(adata.uns[key].get("warnings", []))}


def _cell(fn, *args) -> tuple[str, dict | None]:
    try:
        res = measure(fn, *args)
    except RuntimeError as err:
        if "ModelSetupError" in str(err):
            return "needs user input", None
        return f"failed: {str(err)[:60]}", None
    return f"{res['out']['wall']:.1f}", res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+")
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--no-shapes", action="store_true")
    args = p.parse_args(argv)
    from napari_scdl.models import list_models

    models = args.models or sorted(list_models())
    print("Wall seconds (training + writing, defaults, CPU, 2 cores), by spots:\n")
    print("| model | " + " | ".join(f"{s:,} spots" for s in args.sizes) + " | peak MB (largest) |")
    print("|---|" + "---:|" * (len(args.sizes) + 1))
    for m in models:
        cells, peak = [], None
        for s in args.sizes:
            text, res = _cell(run_one, m, s)
            cells.append(text)
            peak = res["peak_mb"] if res else peak
        print(f"| {m} | " + " | ".join(cells) + f" | {peak or 0:.0f} |", flush=True)
    if args.no_shapes:
        return 0
    print("\nWall seconds on the shapes of real slides (defaults; w = warnings shown):\n")
    print("| model | " + " | ".join(SHAPES) + " |")
    print("|---|" + "---:|" * len(SHAPES))
    for m in models:
        cells = []
        for s in SHAPES:
            text, res = _cell(run_one, m, None, s)
            cells.append(text if res is None else f"{text} (w {res['out']['warnings']})")
        print(f"| {m} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
