"""``napari-scdl markers``: h5ad in, CSV out; labels from a file; errors as exit code 2."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from napari_scdl.cli import main
from napari_scdl.tl.markers import COLUMNS


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory):
    rng = np.random.default_rng(0)
    groups = np.repeat(["d1", "d2", "d3"], 30)
    lam = np.full((90, 12), 2.0)
    for k, g in enumerate(["d1", "d2", "d3"]):
        lam[groups == g, k] = 25.0
    obs = pd.DataFrame(
        {"domains": pd.Categorical(groups)}, index=[f"AAAC{i:04d}-1" for i in range(90)]
    )
    a = ad.AnnData(
        X=sp.csr_matrix(rng.poisson(lam).astype(np.float32)),
        obs=obs,
        var=pd.DataFrame(index=["M1", "M2", "M3"] + [f"G{i}" for i in range(9)]),
    )
    a.obsm["spatial"] = rng.uniform(0, 1000, size=(90, 2))
    path = tmp_path_factory.mktemp("cli") / "sample.h5ad"
    a.write_h5ad(path)
    return path, a


def test_markers_csv(h5ad, tmp_path, capsys):
    path, _ = h5ad
    out = tmp_path / "markers.csv"
    assert main(["markers", str(path), "--groupby", "domains", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS and len(df) == 3 * 12
    assert df.groupby("group").gene.first().to_dict() == {"d1": "M1", "d2": "M2", "d3": "M3"}
    assert "wrote" in capsys.readouterr().out


def test_reference_top_n_and_method(h5ad, tmp_path):
    path, _ = h5ad
    out = tmp_path / "ref.csv"
    rc = main(
        [
            "markers",
            str(path),
            "--groupby",
            "domains",
            "--out",
            str(out),
            "--reference",
            "d3",
            "--method",
            "t-test",
            "--top-n",
            "2",
        ]
    )
    df = pd.read_csv(out)
    assert rc == 0 and set(df.group) == {"d1", "d2"} and len(df) == 4


@pytest.mark.parametrize(("suffix", "header"), [(".tsv", True), (".csv", False)])
def test_labels_file(h5ad, tmp_path, suffix, header):
    path, a = h5ad
    sep = "\t" if suffix == ".tsv" else ","
    lab = pd.DataFrame({"barcode": a.obs_names[:60], "layer": ["L1"] * 30 + ["L2"] * 30})
    labels = tmp_path / f"truth{suffix}"
    lab.to_csv(labels, sep=sep, index=False, header=header)
    out = tmp_path / "lab.csv"
    rc = main(
        ["markers", str(path), "--groupby", "layer", "--labels", str(labels), "--out", str(out)]
    )
    df = pd.read_csv(out)
    assert rc == 0 and set(df.group) == {"L1", "L2"}
    assert df[df.group == "L1"].gene.iloc[0] == "M1"


def test_errors_exit_2(h5ad, tmp_path, capsys):
    path, _ = h5ad
    out = str(tmp_path / "x.csv")
    assert main(["markers", str(path), "--groupby", "nope", "--out", out]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("barcode\tlayer\nXXXX-1\tL1\n")
    assert (
        main(["markers", str(path), "--groupby", "layer", "--labels", str(bad), "--out", out]) == 2
    )
    assert "no barcode" in capsys.readouterr().err
