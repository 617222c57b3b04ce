"""The whole ``napari-scdl domains`` process, as a user runs it (#18): wall time from
launch to exit (interpreter start, imports, reading, genes, graph, the 3 networks, the
mixture, writing the ``.h5ad``, exit), peak memory, and the ARI of what it wrote against
the expert labels, in one table. Every run is a fresh process with the defaults
(``--n-domains`` = number of labels, seed 0). Time it on a quiet machine.

    python benchmarks/bench_domains_process.py [--repeats 5] [--sets 151673,A1,D1]
        [--reference SRC]

``--reference SRC`` also runs another checkout's package (``SRC``: its ``src`` folder, e.g.
a ``git worktree`` of an earlier commit) in the same run, alternating with this one, so
both see the same machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA

SETS = {
    "151673": (DATA / "dlpfc151673", DATA / "dlpfc151673" / "ground_truth.tsv", 7),
    "A1": (DATA / "her2st" / "A1.h5ad", DATA / "her2st" / "A1_ground_truth.tsv", 5),
    "D1": (DATA / "her2st" / "D1.h5ad", DATA / "her2st" / "D1_ground_truth.tsv", 3),
}
def run_once(path: Path, k: int, out: Path, src: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one ``napari-scdl domains`` process (the
    package from ``src`` when given)."""
    cmd = [sys.executable, "-m", "napari_scdl.cli", "domains", str(path),
           "--n-domains", str(k), "--out", str(out)]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    if not out.exists():
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def ari_of(out: Path, tsv: Path) -> float:
    import anndata as ad
    import pandas as pd

    from napari_scdl.metrics import ari

    adata = ad.read_h5ad(out)
    truth = pd.read_csv(tsv, sep="\t", index_col=0).iloc[:, 0].reindex(adata.obs_names)
    return ari(truth.to_numpy(dtype=object), adata.obs["domain"].astype(str).to_numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--reference", default=None, help="src folder of another checkout")
    args = ap.parse_args()
    versions = [("this checkout", None)] + ([("reference", args.reference)] if args.reference else [])
    print("| set | spots | version | ARI | whole process s: median (min-max) | peak MB |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            path, tsv, k = SETS[name]
            if not path.exists():
                print(f"| {name} | (not found: {path}) | | | | |")
                continue
            runs = {v: ([], [], []) for v, _ in versions}
            for i in range(args.repeats):
                for version, src in versions:  # alternating: both see the same machine
                    out = Path(tmp) / f"{name}_{i}_{src is None}.h5ad"
                    wall, peak = run_once(path, k, out, src)
                    walls, peaks, aris = runs[version]
                    walls.append(wall)
                    peaks.append(peak)
                    aris.append(ari_of(out, tsv))
            import anndata as ad

            n = ad.read_h5ad(out, backed="r").n_obs
            for version, (walls, peaks, aris) in runs.items():
                spread = "" if np.ptp(aris) == 0 else f" (runs {min(aris):.3f}-{max(aris):.3f})"
                print(
                    f"| {name} | {n:,} | {version} | {aris[0]:.3f}{spread} | "
                    f"{np.median(walls):.1f} ({min(walls):.1f}-{max(walls):.1f}) | "
                    f"{max(peaks):.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
