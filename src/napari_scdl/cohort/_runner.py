"""Run a cohort on dask.distributed: per-slide tasks on the workers, the joint model on one.

Stages (each resumable: its outputs are written atomically and a rerun skips them):
1. ``prepare_slide`` per slide (read, check) -> ``DIR/.cohort/<id>.prepared.h5ad``;
2. ``train_joint`` on one worker -> ``DIR/.cohort/joint_<cohort id>.pkl`` and
   ``DIR/cohort_model.pt`` (``model.transform(new_slide)`` maps another slide);
3. ``write_slide`` per slide -> ``DIR/<id>.h5ad``, ``DIR/<id>_domains.png`` (unless
   ``figures=False``) and last ``DIR/.cohort/<id>.done.json``;
4. ``DIR/cohort_summary.csv`` (metadata, spots, domain proportions per slide),
   ``DIR/cohort_markers.csv`` and ``DIR/cohort_proportions.png``.
A slide that still fails after ``retries`` is reported and left out; the others go on.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ScdlError
from ..models import Progress
from . import _tasks
from ._manifest import read_manifest

logger = logging.getLogger(__name__)

Event = Callable[[str, str, str], None]  # (sample_id or "cohort", status, message)


@dataclass
class CohortRun:
    """What :func:`run_cohort` did: ``status`` per slide (``done``, ``skipped``,
    ``failed``), ``errors`` of the failed ones, the summary table and where it went."""

    cohort_id: str
    out_dir: Path
    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    trained: bool = False


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None, processes: bool):
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or max(1, min(4, (os.cpu_count() or 2) - 1))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def run_cohort(
    manifest,
    *,
    n_domains: int = 7,
    out_dir: str | Path,
    seed: int = 0,
    device: str = "auto",
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    retries: int = 1,
    key_added: str = "domain",
    use_histology: bool = True,
    on_event: Event | None = None,
    correction: str = "center",
    figures: bool = True,
    cancel: Any = None,
    **params: Any,
) -> CohortRun:
    """Joint domains of the slides of ``manifest`` (CSV path or table, see
    :func:`read_manifest`), per-slide work on dask.distributed.

    ``scheduler``: address of an existing dask scheduler (its workers must see the paths);
    default a ``LocalCluster`` of ``workers`` workers (``processes=False``: threads).
    ``on_event(sample_id, status, message)`` is called as slides progress; ``cancel``
    (e.g. a ``threading.Event``): once set, the run stops at the next slide event
    (:class:`Cancelled`; what is complete stays complete). A manifest column ``block``
    names adjacent sections of one tissue block (aligned and linked in the graph, see
    :func:`napari_scdl.tl.cohort_domains`). ``figures``: ``DIR/<id>_domains.png`` per slide
    and ``DIR/cohort_proportions.png``. Other parameters are
    :func:`napari_scdl.tl.cohort_domains`'."""
    from distributed import as_completed

    from ..cohort._model import check_correction
    from ..tl.cohort import cohort_id_of

    table = read_manifest(manifest)
    out = Path(out_dir)
    work = out / ".cohort"
    work.mkdir(parents=True, exist_ok=True)
    options = {"n_domains": int(n_domains), "seed": int(seed), "device": device,
               "key_added": key_added, "use_histology": bool(use_histology),
               "correction": check_correction(correction), **params}
    if "block" in table.columns:
        blocks = {s: b for s, b in table["block"].items() if str(b).strip() not in ("", "nan")}
        if blocks:
            options["blocks"] = blocks
    cid = cohort_id_of([f"{s}={p}" for s, p in table["path"].items()], options)
    run = CohortRun(cohort_id=cid, out_dir=out)
    options["retries"] = int(retries)  # not part of the cohort id
    options["figures"] = bool(figures)
    say = on_event or (lambda s, st, m: logger.info("%s %s %s", s, st, m))
    if cancel is not None:
        say = _cancellable(say, cancel)
    todo = [s for s in table.index if not _tasks.is_complete(out, s, cid, figures)]
    for s in table.index:
        if s not in todo:
            run.status[s] = "skipped"
            say(s, "skipped", "complete from an earlier run of this cohort")
    if todo:
        with _client(scheduler, workers, processes) as client:
            _run_stages(client, as_completed, table, todo, work, out, cid, options, run, say,
                        cancel)
    run.summary = write_summary(table, out, run, key=key_added, figures=figures)
    ok = sum(v in ("done", "skipped") for v in run.status.values())
    say("cohort", "summary", f"{ok}/{len(table)} slides, cohort {cid} -> {out}")
    return run


def _run_stages(client, as_completed, table, todo, work, out, cid, options, run, say,
                cancel=None) -> None:
    prepared: dict[str, str] = {}
    futs = {
        client.submit(_tasks.prepare_slide, table.at[s, "path"], s, str(work),
                      key=f"prepare-{cid}-{s}", retries=run_retries(options)): s
        for s in table.index  # every slide (skips itself when already prepared)
    }
    for i, fut in enumerate(as_completed(futs), 1):
        s = futs[fut]
        if fut.status == "error":
            run.status[s], run.errors[s] = "failed", _message(fut.exception())
            say(s, "failed", f"[{i}/{len(futs)}] could not be read: {run.errors[s]}")
            continue
        info = fut.result()
        prepared[s] = str(_tasks.prepared_path(work, s))
        if s in todo:
            say(s, "prepared", f"[{i}/{len(futs)}] {info['n_spots']} spots, "
                f"{info['n_genes']} genes" + (" (kept from an earlier run)" * info["skipped"]))
    if len(prepared) < 2:
        raise ScdlError(f"cohort: only {len(prepared)} slide(s) could be read; need 2. "
                        + "; ".join(f"{k}: {v}" for k, v in run.errors.items()))
    prepared = {s: prepared[s] for s in table.index if s in prepared}
    from ..tl.cohort import cohort_id_of

    joint = work / f"joint_{cid}_{cohort_id_of(list(prepared), {})}.pkl"
    run.trained = not joint.exists()
    if run.trained:  # a new joint model: every slide gets its domains from it
        todo = list(prepared)
        say("cohort", "training", f"joint model over {len(prepared)} slides")
    else:
        say("cohort", "training", "joint model kept from an earlier run of this cohort")
    train_opts = {k: v for k, v in options.items() if k not in ("retries", "figures")}
    fut = client.submit(_tasks.train_joint, prepared, str(joint), str(out / "cohort_model.pt"),
                        train_opts | {"cohort_id": cid}, key=f"train-{cid}", pure=False)
    _wait(fut, cancel)
    say("cohort", "trained", f"joint model over {len(prepared)} slides")
    writes = {
        client.submit(_tasks.write_slide, s, prepared[s], str(joint), str(out), cid,
                      options["figures"], key=f"write-{cid}-{s}",
                      retries=run_retries(options), pure=False): s
        for s in todo if s in prepared
    }
    for i, f in enumerate(as_completed(writes), 1):
        s = writes[f]
        if f.status == "error":
            run.status[s], run.errors[s] = "failed", _message(f.exception())
            say(s, "failed", f"[{i}/{len(writes)}] {run.errors[s]}")
            continue
        r = f.result()
        run.status[s] = "done"
        say(s, "done", f"[{i}/{len(writes)}] {r['n_spots']} spots, {r['n_domains']} domains "
            f"-> {r['output']}")


def _wait(fut, cancel, poll: float = 0.2):
    """``fut.result()``, checking ``cancel`` every ``poll`` seconds."""
    while cancel is not None:
        try:
            return fut.result(timeout=poll)
        except TimeoutError:  # asyncio's and dask's are this one (Python >= 3.11)
            if cancel.is_set():
                fut.cancel()
                raise Cancelled("cohort run cancelled during training; a rerun resumes") from None
    return fut.result()


class Cancelled(ScdlError):
    """The run was cancelled (``cancel`` was set); complete slides stay complete."""


def _cancellable(say: Event, cancel) -> Event:
    def checked(s: str, status: str, message: str) -> None:
        say(s, status, message)
        if cancel.is_set():
            raise Cancelled("cohort run cancelled; complete slides are kept, a rerun resumes")
    return checked


def run_retries(options: dict[str, Any]) -> int:
    return int(options.get("retries", 1))


def _message(err: BaseException | None) -> str:
    text = str(err).strip().splitlines()[0] if err is not None and str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}"


def write_summary(table: pd.DataFrame, out: Path, run: CohortRun, *, key: str,
                  figures: bool = True) -> pd.DataFrame:
    """``cohort_summary.csv`` (one row per slide: metadata, status, spots, proportions),
    ``cohort_markers.csv`` and ``cohort_proportions.png`` from the slides' outputs."""
    import pickle

    import anndata as ad

    from ..tl.cohort import domain_proportions, plot_proportions

    obs = {}
    for s in table.index:
        path = out / f"{s}.h5ad"
        if run.status.get(s) in ("done", "skipped") and path.exists():
            a = ad.read_h5ad(path, backed="r")
            obs[s] = ad.AnnData(obs=a.obs[[key]].copy())
            a.file.close()
    meta = table.drop(columns=["path"])
    props = domain_proportions(obs, key=key) if obs else pd.DataFrame()
    summary = meta.join(props, how="left")
    summary.insert(len(meta.columns), "status", [run.status.get(s, "failed") for s in table.index])
    summary["error"] = [run.errors.get(s, "") for s in table.index]
    if "n_spots" in summary:
        summary["n_spots"] = summary["n_spots"].astype("Int64")
    summary.index.name = "sample_id"
    _tasks.atomic_write_bytes(summary.to_csv().encode(), out / "cohort_summary.csv")
    joints = sorted((out / ".cohort").glob(f"joint_{run.cohort_id}_*.pkl"),
                    key=lambda p: p.stat().st_mtime)
    if joints:
        markers = pickle.loads(joints[-1].read_bytes())["markers"]
        _tasks.atomic_write_bytes(markers.to_csv(index=False).encode(),
                                  out / "cohort_markers.csv")
    if obs and figures:
        import io

        buf = io.BytesIO()
        plot_proportions(props, key=key).savefig(buf, format="png", bbox_inches="tight")
        _tasks.atomic_write_bytes(buf.getvalue(), out / "cohort_proportions.png")
    return summary


@dataclass
class SlideProgress(Progress):
    """A :class:`~napari_scdl.models.Progress` of :func:`run_cohort_iter`: one slide event
    (``sample_id`` is ``"cohort"`` for the joint training and the summary)."""

    sample_id: str = ""
    status: str = ""


_COUNTED = {"prepared", "failed", "done", "skipped", "trained"}


def run_cohort_iter(manifest, *, on_result: Callable[[CohortRun], None] | None = None,
                    cancel: Any = None, **kwargs: Any) -> Iterator[SlideProgress]:
    """:func:`run_cohort` in a background thread, yielding a :class:`SlideProgress` per
    slide event (for a GUI's thread worker: the dask client never runs in the caller's
    thread). Closing the generator, or setting ``cancel`` (a ``threading.Event``), stops the
    run at its next event; complete slides stay complete. The :class:`CohortRun` goes to
    ``on_result`` and is the generator's return value."""
    import queue
    import threading

    n = len(read_manifest(manifest))
    total = 2 * n + 1  # read each slide, train once, write each slide
    cancel = cancel or threading.Event()
    events: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["run"] = run_cohort(manifest, on_event=lambda *e: events.put(e), cancel=cancel,
                                    **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            box["error"] = err
        finally:
            events.put(None)

    thread = threading.Thread(target=target, name="napari-scdl-cohort", daemon=True)
    thread.start()
    step = 0
    try:
        while True:
            event = events.get()
            if event is None:
                break
            sid, status, message = event
            if status == "summary":
                step = total
            elif status in _COUNTED:
                step = min(step + 1, total - 1)
            yield SlideProgress(step, total, f"{sid}: {status} {message}".strip(),
                                sample_id=sid, status=status)
    finally:
        cancel.set()  # no-op once the run has finished; otherwise it stops at its next event
    if "error" in box:
        raise box["error"]
    run = box["run"]
    if on_result is not None:
        on_result(run)
    return run
