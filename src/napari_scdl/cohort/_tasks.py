"""The per-slide tasks of a cohort run: plain functions of paths (picklable), so that any
dask.distributed worker with access to the files can run them. Every output is written
atomically (temporary file, then rename), so a killed run leaves no half-written file."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_h5ad(adata, path: Path) -> Path:
    from ..io import write_h5ad

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.h5ad")
    write_h5ad(adata, tmp)
    os.replace(tmp, path)
    return path


def atomic_write_bytes(data: bytes, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def prepared_path(work: Path, sample_id: str) -> Path:
    return Path(work) / f"{sample_id}.prepared.h5ad"


def prepare_slide(path: str, sample_id: str, work_dir: str) -> dict[str, Any]:
    """Read one slide with our readers, check it and keep it (``work_dir/<id>.prepared.h5ad``).
    Skipped when that file exists. Returns the slide's QC summary."""
    import anndata as ad

    from ..io import read
    from ..preprocessing import expression_input

    out = prepared_path(Path(work_dir), sample_id)
    if out.exists():
        a = ad.read_h5ad(out, backed="r")
        info = {"sample_id": sample_id, "n_spots": a.n_obs, "n_genes": a.n_vars, "skipped": True}
        a.file.close()
        return info
    adata = read(path)
    X = expression_input(adata).X
    umis = np.asarray(X.sum(1)).ravel()
    atomic_write_h5ad(adata, out)
    return {
        "sample_id": sample_id,
        "n_spots": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "median_umis": float(np.median(umis)) if umis.size else 0.0,
        "skipped": False,
    }


def train_joint(prepared: dict[str, str], joint_path: str, model_path: str,
                options: dict[str, Any]) -> str:
    """Train the joint model on the prepared slides (where the data meet: one worker, GPU
    when there is one) and keep each slide's results in ``joint_path`` (a pickle). Skipped
    when ``joint_path`` exists."""
    import anndata as ad

    from ..tl.cohort import cohort_domains

    if Path(joint_path).exists():
        return joint_path
    slides = {sid: ad.read_h5ad(p) for sid, p in prepared.items()}
    opts = dict(options)
    if opts.get("blocks"):  # only the slides that could be read
        opts["blocks"] = {s: b for s, b in opts["blocks"].items() if s in slides}
    res = cohort_domains(list(slides.values()), sample_ids=list(slides), **opts)
    key = opts.get("key_added", "domain")
    per_slide = {
        sid: {
            "labels": a.obs[key].astype(str).to_numpy(),
            "confidence": a.obs[f"{key}_confidence"].to_numpy(),
            "embedding": a.obsm[f"X_{key}"],
            "uns": a.uns[key],
        }
        for sid, a in res.adatas.items()
    }
    res.model.save(model_path)
    blob = {"cohort_id": res.cohort_id, "key": key, "slides": per_slide,
            "categories": list(next(iter(res.adatas.values())).obs[key].cat.categories),
            "markers": res.markers}
    atomic_write_bytes(pickle.dumps(blob), Path(joint_path))
    return joint_path


def done_path(out_dir: Path, sample_id: str) -> Path:
    return Path(out_dir) / ".cohort" / f"{sample_id}.done.json"


def write_slide(sample_id: str, prepared: str, joint_path: str, out_dir: str,
                cohort_id: str, figures: bool = True) -> dict[str, Any]:
    """Write ``out_dir/<id>.h5ad`` (the slide with the cohort's domains), with ``figures``
    ``out_dir/<id>_domains.png`` (its tissue coloured by the domains), and last its marker
    ``.cohort/<id>.done.json`` (cohort id, params). Returns the slide's summary line."""
    import anndata as ad
    import pandas as pd

    from ..models._results import write_result

    blob = pickle.loads(Path(joint_path).read_bytes())
    key, r = blob["key"], blob["slides"][sample_id]
    adata = ad.read_h5ad(prepared)
    write_result(adata, key, labels=r["labels"], confidence=r["confidence"],
                 embedding=r["embedding"], info=r["uns"])
    adata.obs[key] = adata.obs[key].cat.set_categories(blob["categories"])
    out = atomic_write_h5ad(adata, Path(out_dir) / f"{sample_id}.h5ad")
    figure = None
    if figures:
        from ._figures import slide_figure

        figure = str(slide_figure(adata, key, Path(out_dir) / f"{sample_id}_domains.png",
                                  title=f"{sample_id}: cohort {key}s"))
    counts = pd.Series(r["labels"]).value_counts()
    summary = {
        "sample_id": sample_id,
        "n_spots": int(adata.n_obs),
        "n_domains": int(counts.size),
        "output": str(out),
        "figure": figure,
        "cohort_id": cohort_id,
        "params": r["uns"].get("params", {}),
    }
    atomic_write_bytes(json.dumps(summary, default=str, indent=1).encode(),
                       done_path(Path(out_dir), sample_id))
    return summary


def is_complete(out_dir: Path, sample_id: str, cohort_id: str, figures: bool = False) -> bool:
    """``out_dir/<id>.h5ad`` and its marker exist and belong to this cohort run (and, with
    ``figures``, the marker names a figure that exists)."""
    marker = done_path(out_dir, sample_id)
    if not (Path(out_dir) / f"{sample_id}.h5ad").exists() or not marker.exists():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("cohort_id") != cohort_id:
        return False
    return not figures or bool(info.get("figure")) and Path(info["figure"]).exists()
