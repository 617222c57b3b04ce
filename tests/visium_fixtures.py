"""Write small Space Ranger folders in every common layout, for reader tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp


def write_visium_folder(
    adata,
    root: Path,
    *,
    counts: str = "h5",  # "h5" | "mtx" | "none"
    positions: str = "v2",  # "v2" (tissue_positions.csv, header) | "v1" (list, no header)
    # | "parquet" (tissue_positions.parquet, Visium HD bins)
    images: tuple[str, ...] = ("hires", "lowres"),
    extra_off_tissue: int = 5,
) -> Path:
    """Write ``adata`` (synthetic) as a Space Ranger ``outs``-like folder at ``root``."""
    root = Path(root)
    spatial = root / "spatial"
    spatial.mkdir(parents=True, exist_ok=True)
    X = sp.csc_matrix(adata.X.T.astype(np.int32))  # genes x spots, as 10x stores it
    barcodes = np.asarray(adata.obs_names, dtype="S")
    gene_ids = adata.var["gene_ids"].astype(str).to_numpy()
    names = np.asarray(adata.var_names, dtype=str)
    if counts == "h5":
        with h5py.File(root / "filtered_feature_bc_matrix.h5", "w") as f:
            m = f.create_group("matrix")
            m["barcodes"] = barcodes
            m["data"] = X.data
            m["indices"] = X.indices.astype(np.int64)
            m["indptr"] = X.indptr.astype(np.int64)
            m["shape"] = np.array(X.shape, dtype=np.int32)
            ft = m.create_group("features")
            ft["id"] = gene_ids.astype("S")
            ft["name"] = names.astype("S")
            ft["feature_type"] = np.array([b"Gene Expression"] * len(names))
            ft["genome"] = np.array([b"GRCh38"] * len(names))
            ft["_all_tag_keys"] = np.array([b"genome"])
    elif counts == "mtx":
        mdir = root / "filtered_feature_bc_matrix"
        mdir.mkdir(exist_ok=True)
        with gzip.open(mdir / "matrix.mtx.gz", "wb") as fh:
            scipy.io.mmwrite(fh, sp.coo_matrix(X))
        with gzip.open(mdir / "barcodes.tsv.gz", "wt") as fh:
            fh.write("\n".join(adata.obs_names) + "\n")
        with gzip.open(mdir / "features.tsv.gz", "wt") as fh:
            for gid, name in zip(gene_ids, names, strict=True):
                fh.write(f"{gid}\t{name}\tGene Expression\n")

    xy = np.asarray(adata.obsm["spatial"])
    pos = pd.DataFrame({
        "barcode": list(adata.obs_names) + [f"OFF{i:04d}-1" for i in range(extra_off_tissue)],
        "in_tissue": [1] * adata.n_obs + [0] * extra_off_tissue,
        "array_row": list(adata.obs["array_row"]) + [0] * extra_off_tissue,
        "array_col": list(adata.obs["array_col"]) + list(range(0, 2 * extra_off_tissue, 2)),
        "pxl_row_in_fullres": list(xy[:, 1].round().astype(int)) + [10] * extra_off_tissue,
        "pxl_col_in_fullres": list(xy[:, 0].round().astype(int)) + [10] * extra_off_tissue,
    })
    if positions == "v2":
        pos.to_csv(spatial / "tissue_positions.csv", index=False)
    elif positions == "parquet":
        pos.to_parquet(spatial / "tissue_positions.parquet", index=False)
    else:
        pos.to_csv(spatial / "tissue_positions_list.csv", index=False, header=False)

    lib = next(iter(adata.uns["spatial"]))
    info = adata.uns["spatial"][lib]
    sf = dict(info["scalefactors"])
    (spatial / "scalefactors_json.json").write_text(json.dumps(sf))
    hires = info["images"].get("hires")
    if hires is not None:
        if "hires" in images:
            iio.imwrite(spatial / "tissue_hires_image.png", hires)
        if "lowres" in images:
            ratio = sf["tissue_lowres_scalef"] / sf["tissue_hires_scalef"]
            step = max(1, int(round(1 / ratio)))
            iio.imwrite(spatial / "tissue_lowres_image.png", hires[::step, ::step])
            sf["tissue_lowres_scalef"] = sf["tissue_hires_scalef"] / step
            (spatial / "scalefactors_json.json").write_text(json.dumps(sf))
    return root
