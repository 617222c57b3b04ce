"""A real crash: ``napari-scdl cohort`` killed (SIGKILL) mid-run, then rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import anndata as ad
import pandas as pd
import pytest

from napari_scdl.cli import main
from napari_scdl.cohort._synthetic import synthetic_cohort

SLIDES = [f"slide{i}" for i in range(1, 5)]


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_killed_run_resumes_without_recomputing(tmp_path):
    rows = []
    for sid, a in synthetic_cohort(len(SLIDES), n_spots=150, n_genes=80, image=True).items():
        a.write_h5ad(tmp_path / f"{sid}.h5ad")
        rows.append({"sample_id": sid, "path": f"{sid}.h5ad"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "out"
    argv = ["cohort", str(tmp_path / "m.csv"), "--n-domains", "3", "--out", str(out),
            "--workers", "1", "--threads", "--epochs", "10", "--param", "n_networks=1",
            "--param", "n_pcs=10", "--no-histology"]
    markers = {s: out / ".cohort" / f"{s}.done.json" for s in SLIDES}
    proc = subprocess.Popen([sys.executable, "-m", "napari_scdl", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(m.exists() for m in markers.values()):
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no slide finished in 120 s"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run, its dask threads with it
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    complete = [s for s in SLIDES if markers[s].exists()]
    assert 1 <= len(complete) < len(SLIDES), complete
    # every file that has its final name is whole (written to a temporary name, renamed)
    for s in SLIDES:
        if (out / f"{s}.h5ad").exists():
            ad.read_h5ad(out / f"{s}.h5ad")
    for s in complete:
        assert (out / f"{s}_domains.png").stat().st_size > 1000
    # a half-written output left by some other writer is not taken as complete
    torn = next(s for s in SLIDES if s not in complete)
    (out / f"{torn}.h5ad").write_bytes(b"\x89HDF\r\n half a file")
    mtimes = {s: ((out / f"{s}.h5ad").stat().st_mtime_ns,
                  (out / f"{s}_domains.png").stat().st_mtime_ns) for s in complete}

    assert main(argv) == 0
    for s in SLIDES:
        a = ad.read_h5ad(out / f"{s}.h5ad")
        assert a.obs["domain"].notna().all() and "cohort" in a.uns["domain"]
        assert markers[s].exists() and (out / f"{s}_domains.png").exists()
    assert {s: ((out / f"{s}.h5ad").stat().st_mtime_ns,
                (out / f"{s}_domains.png").stat().st_mtime_ns) for s in complete} == mtimes
    summary = pd.read_csv(out / "cohort_summary.csv", index_col=0)
    assert list(summary.index) == SLIDES
    assert set(summary.loc[complete, "status"]) == {"skipped"}
    assert set(summary.drop(index=complete)["status"]) == {"done"}
    ids = {ad.read_h5ad(out / f"{s}.h5ad").uns["domain"]["cohort"]["id"] for s in SLIDES}
    assert len(ids) == 1  # one cohort: the resumed slides come from the same joint model
