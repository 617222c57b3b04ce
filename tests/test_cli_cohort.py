"""``napari-scdl cohort MANIFEST --n-domains K --out DIR``."""

from __future__ import annotations

import pandas as pd

from napari_scdl.cli import main
from napari_scdl.cohort._synthetic import synthetic_cohort


def _manifest(tmp_path):
    rows = []
    for i, (sid, a) in enumerate(synthetic_cohort(2, n_spots=250, n_genes=100).items()):
        a.write_h5ad(tmp_path / f"{sid}.h5ad")
        rows.append({"sample_id": sid, "path": str(tmp_path / f"{sid}.h5ad"), "donor": f"D{i}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_cli_cohort_writes_slides_and_summary_then_resumes(tmp_path, capsys):
    m, out = _manifest(tmp_path), tmp_path / "out"
    argv = ["cohort", str(m), "--n-domains", "4", "--out", str(out), "--workers", "1",
            "--threads", "--epochs", "30", "--param", "n_networks=1", "--no-histology"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines if ": done" in ln] != []
    assert sum(": done" in ln for ln in lines) == 2
    assert lines[-1].startswith("cohort: 2/2 slides with joint domains")
    assert (out / "slide1.h5ad").exists() and (out / "slide2.h5ad").exists()
    summary = pd.read_csv(out / "cohort_summary.csv", index_col=0)
    assert list(summary.index) == ["slide1", "slide2"]
    assert list(summary["donor"]) == ["D0", "D1"]
    assert summary.filter(like="domain_").sum(axis=1).round(6).eq(1).all()
    assert (out / "cohort_model.pt").exists()
    assert (out / "slide1_domains.png").stat().st_size > 1000  # a per-slide figure task
    assert (out / "cohort_proportions.png").stat().st_size > 1000
    # a rerun finds everything complete: nothing is recomputed
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()
    assert sum(": skipped" in ln for ln in last) == 2
    assert "(2 kept from an earlier run)" in last[-1]


def test_cli_cohort_harmony_no_figures_and_blocks(tmp_path, capsys):
    """--correction harmony is recorded; --no-figures writes no PNG; a manifest column
    'block' aligns the two sections (transform in uns)."""
    import anndata as ad

    m, out = _manifest(tmp_path), tmp_path / "out"
    table = pd.read_csv(m)
    table["block"] = ["B1", "B1"]
    table.to_csv(m, index=False)
    argv = ["cohort", str(m), "--n-domains", "4", "--out", str(out), "--workers", "1",
            "--threads", "--epochs", "30", "--param", "n_networks=1", "--no-histology",
            "--correction", "harmony", "--no-figures"]
    assert main(argv) == 0
    assert not list(out.glob("*.png"))
    a2 = ad.read_h5ad(out / "slide2.h5ad")
    assert a2.uns["domain"]["params"]["correction"] == "harmony"
    assert a2.uns["domain"]["alignment"]["ref"] == "slide1"
    assert a2.uns["domain"]["alignment"]["matrix"].shape == (3, 3)
    assert a2.uns["domain"]["cohort"]["block"] == "B1"


def test_cli_cohort_bad_manifest_is_a_message(tmp_path, capsys):
    bad = tmp_path / "m.csv"
    bad.write_text("id,file\na,x\n")
    assert main(["cohort", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "column 'sample_id' is missing" in err and "column 'path' is missing" in err
