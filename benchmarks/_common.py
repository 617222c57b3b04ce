"""Helpers of the benchmark scripts: run a function in a fresh process and measure it.

Each measured call runs in its own spawned process, so the peak resident memory it reports
(``ru_maxrss``: everything the process touched, Python, numpy and torch allocations and
the imported libraries included) belongs to that call alone.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def _child(fn: Callable, args: tuple, kwargs: dict, queue) -> None:
    try:
        base = _peak_rss_mb()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        wall = time.perf_counter() - t0
        queue.put(
            {"ok": True, "out": out, "wall_s": wall, "peak_mb": _peak_rss_mb(), "start_mb": base}
        )
    except Exception as err:  # noqa: BLE001 - reported in the table
        queue.put({"ok": False, "error": f"{type(err).__name__}: {err}"})


def measure(fn: Callable, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run ``fn(*args, **kwargs)`` in a fresh process; return its result (``out``), wall
    seconds of the call and the process's peak RSS in MB. ``fn`` must be importable (a
    module-level function) and whatever it loads should be loaded inside it, so that
    loading counts in the memory but reading is excluded from the timing by the caller."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, kwargs, queue))
    proc.start()
    res = queue.get()
    proc.join()
    if not res["ok"]:
        raise RuntimeError(res["error"])
    return res


def ari_annotated(labels, truth) -> float:
    """Adjusted Rand index over the spots that have an annotation (truth not NaN/empty)."""
    from sklearn.metrics import adjusted_rand_score

    truth = np.asarray(truth, dtype=object)
    ok = np.array([isinstance(t, str) and t != "" for t in truth])
    return float(adjusted_rand_score(truth[ok], np.asarray(labels)[ok]))


def load_truth(sample: Path, obs_names) -> np.ndarray:
    """The ``ground_truth.tsv`` (barcode, layer) of ``sample`` aligned to ``obs_names``."""
    import pandas as pd

    gt = pd.read_csv(sample / "ground_truth.tsv", sep="\t", index_col=0).iloc[:, 0]
    return gt.reindex(obs_names).to_numpy(dtype=object)
