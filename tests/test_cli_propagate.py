"""``napari-scdl propagate INPUT --labels partial.csv --out OUT.h5ad``."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from napari_scdl.cli import main


def test_cli_propagate_writes_prediction(small_adata, tmp_path):
    src = tmp_path / "sample.h5ad"
    small_adata.write_h5ad(src)
    rng = np.random.default_rng(0)
    keep = rng.random(small_adata.n_obs) < 0.1
    labels = small_adata.obs["truth"].astype(str)[keep]
    csv = tmp_path / "partial.csv"
    pd.DataFrame({"Barcode": labels.index, "Layer": labels.to_numpy()}).to_csv(csv, index=False)
    out = tmp_path / "out.h5ad"
    rc = main(
        [
            "propagate",
            str(src),
            "--labels",
            str(csv),
            "--out",
            str(out),
            "--seed",
            "1",
            "--device",
            "cpu",
            "--param",
            "epochs=40",
            "--param",
            "n_ensemble=1",
            "--param",
            "n_top_genes=100",
            "--baseline",
        ]
    )
    assert rc == 0
    res = ad.read_h5ad(out)
    assert res.obs["predicted_label"].notna().all()
    assert res.obs["predicted_confidence"].between(0, 1).all()
    assert "label_propagation" in res.obs
    assert res.uns["predicted_label"]["seed"] == 1
    truth = res.obs["truth"].astype(str)
    assert (res.obs["predicted_label"].astype(str)[~keep] == truth[~keep]).mean() > 0.7


def test_cli_propagate_reports_mismatch(small_adata, tmp_path, capsys):
    src = tmp_path / "sample.h5ad"
    small_adata.write_h5ad(src)
    csv = tmp_path / "other.csv"
    pd.DataFrame({"Barcode": ["ACGTACGTAAAA-1"], "c": ["x"]}).to_csv(csv, index=False)
    rc = main(["propagate", str(src), "--labels", str(csv), "--out", str(tmp_path / "o.h5ad")])
    assert rc == 2
    assert "none of its 1 barcodes" in capsys.readouterr().err
    rc = main(
        [
            "propagate",
            str(src),
            "--labels",
            str(csv),
            "--out",
            str(tmp_path / "o.h5ad"),
            "--param",
            "bogus",
        ]
    )
    assert rc == 2
    assert "KEY=VALUE" in capsys.readouterr().err
