"""End to end on DLPFC 151673 grouped by its expert layers: known layer markers come out on top.

Measured (wilcoxon, rank within group, 0 = best): WM MOBP 0, MBP 1, PLP1 2; Layer5 PCP4 1;
Layer2 HPCAL1 1; Layer6 KRT17 1; Layer4 NEFH 0, RORB 8; Layer3 CUX2 9. Moran's I: MBP is
the most spatially variable gene of the slide (I = 0.74).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlpfc151673"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} not available"),
]


@pytest.fixture(scope="module")
def slide():
    from napari_scdl.io import read

    adata = read(DATA)
    truth = pd.read_csv(DATA / "ground_truth.tsv", sep="\t", index_col=0)["layer"]
    adata.obs["layer"] = pd.Categorical(truth.reindex(adata.obs_names))
    return adata


def _rank(df: pd.DataFrame, group: str, gene: str) -> int:
    sub = df[df.group == group].reset_index(drop=True)
    hit = np.flatnonzero(sub.gene == gene)
    assert len(hit) == 1, f"{gene} missing from the {group} table"
    return int(hit[0])


def test_known_layer_markers(slide):
    from napari_scdl.tl import markers

    df = markers(slide, "layer")
    assert set(df.group) == {"Layer1", "Layer2", "Layer3", "Layer4", "Layer5", "Layer6", "WM"}
    assert slide.uns["markers"]["params"]["n_unlabelled"] == 28
    wm = df[df.group == "WM"].set_index("gene")
    for gene in ("MBP", "PLP1", "MOBP"):
        assert _rank(df, "WM", gene) < 5
        assert wm.loc[gene, "log2fc"] > 2 and wm.loc[gene, "pval_adj"] < 1e-100
    assert _rank(df, "Layer5", "PCP4") < 5
    assert df[(df.group == "Layer5") & (df.gene == "PCP4")].pval_adj.item() < 1e-50
    expected = {
        ("Layer2", "HPCAL1"): 5,
        ("Layer6", "KRT17"): 5,
        ("Layer4", "NEFH"): 3,
        ("Layer4", "RORB"): 20,
        ("Layer3", "CUX2"): 20,
    }
    for (group, gene), limit in expected.items():
        assert _rank(df, group, gene) < limit, (group, gene)
    # and the white-matter genes are not markers of an upper layer
    assert _rank(df, "Layer2", "MBP") > 1000


def test_white_matter_gene_is_most_spatially_variable(slide):
    from napari_scdl.tl import spatially_variable_genes

    df = spatially_variable_genes(slide, genes=["MBP", "PCP4", "GAPDH", "MALAT1", "SNAP25"])
    assert df.gene.iloc[0] == "MBP" and df.I.iloc[0] > 0.5 and df.pval_adj.iloc[0] < 1e-10
