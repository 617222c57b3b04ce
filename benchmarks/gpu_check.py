"""The GPU check of issue #14 (called by ``benchmarks/gpu_check.sh``).

1. Correctness: ``napari_scdl.tl.domains`` on DLPFC 151673 with seed 0 on ``cpu`` and on
   ``--device`` (default ``cuda``): ARI between the two runs (target >= 0.95) and each
   against the expert layers.
2. Timing: ``benchmarks/bench_scale.py`` at ``--sizes`` with ``--device`` (each size in
   its own process), the stage table printed and written to ``--out``.

    python benchmarks/gpu_check.py --data DIR --sizes 100000,1000000 --out OUT_DIR
    python benchmarks/gpu_check.py --device cpu --sizes 10000 --out /tmp/x   # dry run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def real_slide(data: Path, device: str) -> dict:
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from napari_scdl.io import read
    from napari_scdl.tl import domains

    sample = data / "dlpfc151673"
    truth = pd.read_csv(sample / "ground_truth.tsv", sep="\t", index_col=0).iloc[:, 0]
    out = {}
    for dev in ("cpu", device):
        adata = read(sample)
        t0 = time.perf_counter()
        model = domains(adata, seed=0, device=dev)
        out[dev] = {"labels": adata.obs["domain"].astype(str).to_numpy(),
                    "wall_s": time.perf_counter() - t0, "device": model.device}
        gt = truth.reindex(adata.obs_names)
        ok = gt.notna().to_numpy()
        out[dev]["ari_truth"] = float(adjusted_rand_score(gt[ok], out[dev]["labels"][ok]))
    between = float(adjusted_rand_score(out["cpu"]["labels"], out[device]["labels"]))
    return {"ari_cpu_vs_device": between,
            **{f"{d}_{k}": v for d, r in out.items() for k, v in r.items() if k != "labels"}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"),
                    help="folder holding dlpfc151673/ (skipped when missing)")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--layout", default="visium_hd")
    ap.add_argument("--out", default=".")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    import torch

    lines.append(f"torch {torch.__version__}, cuda available {torch.cuda.is_available()}"
                 + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    ok = True
    data = Path(args.data)
    if (data / "dlpfc151673").is_dir():
        res = real_slide(data, args.device)
        ok = res["ari_cpu_vs_device"] >= 0.95
        lines.append(f"151673 seed 0: ARI {args.device} vs cpu {res['ari_cpu_vs_device']:.3f} "
                     f"({'PASS' if ok else 'FAIL'}, >= 0.95); vs expert layers: cpu "
                     f"{res['cpu_ari_truth']:.3f} in {res['cpu_wall_s']:.1f} s, {args.device} "
                     f"{res[f'{args.device}_ari_truth']:.3f} in "
                     f"{res[f'{args.device}_wall_s']:.1f} s")
        (out / "gpu_real.json").write_text(json.dumps(res, indent=1))
    else:
        lines.append(f"151673 not found under {data}: correctness check skipped")
    print("\n".join(lines), flush=True)
    cmd = [sys.executable, str(HERE / "bench_scale.py"), "--sizes", args.sizes, "--layout",
           args.layout, "--device", args.device, "--json", str(out / "gpu_scale.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout, flush=True)
    if proc.returncode:
        print(proc.stderr[-4000:], file=sys.stderr)
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n\n" + proc.stdout)
    return 0 if ok and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
