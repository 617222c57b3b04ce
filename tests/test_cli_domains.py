"""``napari-scdl domains``: h5ad in, h5ad out, one summary line; errors as exit code 2."""

from __future__ import annotations

import anndata as ad
import pytest

from napari_scdl.cli import main


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory):
    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.io import write_h5ad

    adata = synthetic_visium(300, n_domains=3, n_genes=80, seed=2, image=False)
    return write_h5ad(adata, tmp_path_factory.mktemp("cli") / "sample.h5ad")


def test_domains_writes_h5ad_and_one_line(h5ad, tmp_path, capsys):
    out = tmp_path / "out.h5ad"
    rc = main(
        [
            "domains",
            str(h5ad),
            "--n-domains",
            "3",
            "--out",
            str(out),
            "--seed",
            "1",
            "--device",
            "cpu",
            "--epochs",
            "20",
        ]
    )
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("domains: 3 domains on 300 spots in ") and "(device cpu)" in lines[0]
    res = ad.read_h5ad(out)
    assert res.obs["domain"].nunique() == 3
    assert "domain_confidence" in res.obs and "X_domain" in res.obsm
    assert res.uns["domain"]["seed"] == 1 and res.uns["domain"]["params"]["epochs"] == 20


def test_domains_auto(h5ad, tmp_path, capsys):
    out = tmp_path / "auto.h5ad"
    rc = main(
        [
            "domains",
            str(h5ad),
            "--n-domains",
            "auto",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--epochs",
            "10",
        ]
    )
    assert rc == 0
    assert "chosen automatically" in capsys.readouterr().out
    assert "auto_k_scores" in ad.read_h5ad(out).uns["domain"]


def test_domains_errors(h5ad, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["domains", str(h5ad), "--n-domains", "seven", "--out", str(tmp_path / "x.h5ad")])
    rc = main(
        [
            "domains",
            str(tmp_path / "missing.h5ad"),
            "--n-domains",
            "3",
            "--out",
            str(tmp_path / "x.h5ad"),
        ]
    )
    assert rc == 2
    assert "error" in capsys.readouterr().err


def test_domains_on_a_non_grid_layout_prints_no_library_noise(tmp_path):
    """A fresh process on a layout whose graph comes from squidpy (no array grid): the
    terminal shows our summary line, not squidpy's INFO line or docrep's SyntaxWarnings."""
    import subprocess
    import sys

    from napari_scdl.datasets import synthetic_visium
    from napari_scdl.io import write_h5ad

    adata = synthetic_visium(200, n_domains=3, n_genes=60, seed=3, image=False)
    adata.obs = adata.obs.drop(columns=["array_row", "array_col"])
    src = write_h5ad(adata, tmp_path / "cells.h5ad")
    out = tmp_path / "out.h5ad"
    proc = subprocess.run(
        [sys.executable, "-m", "napari_scdl.cli", "domains", str(src), "--n-domains", "3",
         "--epochs", "5", "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists()
    text = proc.stdout + proc.stderr
    assert "Creating graph" not in text
    assert "SyntaxWarning" not in text
    assert proc.stdout.strip().startswith("domains: 3 domains on 200 spots")
