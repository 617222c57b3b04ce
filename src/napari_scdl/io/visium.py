"""10x Visium Space Ranger output folders (1.x to 3.x layouts).

Copes with whatever images exist (full-resolution TIFF, hires, lowres, or none), counts as
``filtered_feature_bc_matrix.h5`` or the ``filtered_feature_bc_matrix/`` mtx folder, and
positions with (2.x+) or without (1.x) a header.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataFormatError
from ._images import read_image
from ._sample import finish_sample

logger = logging.getLogger(__name__)

_POSITION_COLUMNS = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres",
                     "pxl_col_in_fullres"]


def is_visium_folder(path: str | Path) -> bool:
    """Whether ``path`` looks like a Space Ranger output folder (or its parent with ``outs/``)."""
    path = Path(path)
    if not path.is_dir():
        return False
    root = path / "outs" if (path / "outs").is_dir() else path
    return (root / "spatial").is_dir() or (root / "filtered_feature_bc_matrix.h5").exists()


def read_visium(
    path: str | Path,
    *,
    library_id: str | None = None,
    in_tissue_only: bool = True,
    fullres_image: str | Path | None = None,
    counts_file: str = "filtered_feature_bc_matrix",
):
    """Read a Space Ranger output folder into an AnnData.

    Parameters
    ----------
    path
        The Space Ranger ``outs`` folder (or the folder holding ``outs/``).
    library_id
        Key under ``uns['spatial']``; default: the folder's name.
    in_tissue_only
        Drop spots not covered by tissue (default).
    fullres_image
        Optional path of the full-resolution tissue image (TIFF) used for the run; opened
        lazily by the layer converter, recorded in ``uns['scdl']['fullres_image']``.

    Returns
    -------
    AnnData with raw counts in ``X`` (CSR float32), ``obsm['spatial']`` (x, y) in
    full-resolution pixels, ``obs`` columns ``in_tissue``, ``array_row``, ``array_col``,
    ``total_counts``, ``n_genes``, gene symbols as unique ``var_names`` (Ensembl ids in
    ``var['gene_ids']``), images and scale factors in ``uns['spatial'][library_id]``.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataFormatError(f"{path} is not a folder; expected a Space Ranger output folder")
    root = path / "outs" if (path / "outs").is_dir() else path
    library_id = library_id or (root.parent.name if root.name == "outs" else root.name)
    problems: list[str] = []

    adata = _read_counts(root, counts_file)
    spatial = root / "spatial"
    positions = _read_positions(spatial, problems)
    scalefactors = _read_scalefactors(spatial, problems)
    if positions is not None:
        missing = adata.obs_names.difference(positions.index)
        if len(missing):
            problems.append(
                f"{len(missing)} of {adata.n_obs} barcodes in the counts are not in "
                f"{positions.attrs['file']} (e.g. {', '.join(missing[:3])}); the counts and "
                "positions come from different runs"
            )
        else:
            sub = positions.loc[adata.obs_names, ["pxl_row_in_fullres", "pxl_col_in_fullres"]]
            bad = ~np.isfinite(sub.to_numpy(dtype=float)).all(1)
            if bad.any():
                problems.append(
                    f"{bad.sum()} spots in {positions.attrs['file']} have missing (NaN) pixel "
                    f"coordinates (e.g. {', '.join(sub.index[bad][:3])})"
                )
    if problems:
        raise DataFormatError(f"cannot read the Visium folder {root}:\n- " + "\n- ".join(problems))

    pos = positions.loc[adata.obs_names]
    for col in ("in_tissue", "array_row", "array_col"):
        adata.obs[col] = pos[col].to_numpy()
    xy = pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64)
    adata.obsm["spatial"] = xy
    if in_tissue_only:
        keep = adata.obs["in_tissue"].to_numpy() == 1
        if not keep.any():
            raise DataFormatError(
                f"no spot of {root} is marked in tissue (column in_tissue of "
                f"{positions.attrs['file']}); open it with in_tissue_only=False"
            )
        adata = adata[keep].copy()

    images = {}
    for name in ("hires", "lowres"):
        file = spatial / f"tissue_{name}_image.png"
        if file.exists():
            images[name] = read_image(file)
    adata.uns["spatial"] = {
        library_id: {
            "images": images,
            "scalefactors": scalefactors,
            "metadata": {"source_image_path": str(fullres_image) if fullres_image else ""},
        }
    }
    logger.info("read %d spots x %d genes from %s (images: %s)", adata.n_obs, adata.n_vars,
                root, ", ".join(images) or "none")
    return finish_sample(adata, library_id=library_id, source=root, fullres_image=fullres_image)


def _read_counts(root: Path, counts_file: str):
    import scanpy as sc

    h5 = root / f"{counts_file}.h5"
    mtx = root / counts_file
    if h5.exists():
        try:
            adata = sc.read_10x_h5(h5)
        except Exception as err:  # noqa: BLE001 - h5py/scanpy raise many kinds
            raise DataFormatError(f"cannot read the counts file {h5} ({err})") from err
    elif mtx.is_dir():
        try:
            adata = sc.read_10x_mtx(mtx, var_names="gene_symbols", make_unique=False)
        except Exception as err:  # noqa: BLE001
            raise DataFormatError(
                f"cannot read the counts folder {mtx} ({err}); expected matrix.mtx(.gz), "
                "barcodes.tsv(.gz) and features.tsv(.gz) or genes.tsv"
            ) from err
    else:
        raise DataFormatError(
            f"no counts in {root}: expected {h5.name} or the {mtx.name}/ folder "
            "(a Space Ranger output folder)"
        )
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    if "gene_ids" not in adata.var:
        adata.var["gene_ids"] = adata.var_names.astype(str)
    return adata


def _read_positions(spatial: Path, problems: list[str]) -> pd.DataFrame | None:
    # Space Ranger >= 2.0: tissue_positions.csv (header); 1.x: tissue_positions_list.csv
    # (no header); Visium HD bins (Space Ranger >= 3.0): tissue_positions.parquet
    candidates = [
        spatial / "tissue_positions.csv",
        spatial / "tissue_positions_list.csv",
        spatial / "tissue_positions.parquet",
    ]
    file = next((f for f in candidates if f.exists()), None)
    if file is None:
        problems.append(
            f"spatial/tissue_positions.csv (or tissue_positions_list.csv, or "
            f"tissue_positions.parquet) not found in {spatial.parent}; expected a Space "
            "Ranger folder"
        )
        return None
    try:
        if file.suffix == ".parquet":
            df = pd.read_parquet(file)
        else:
            with open(file) as fh:
                first = fh.readline()
            has_header = first.lower().startswith("barcode")
            df = pd.read_csv(file, header=0 if has_header else None)
    except Exception as err:  # noqa: BLE001
        problems.append(f"cannot parse {file} ({err})")
        return None
    if df.shape[1] < 6:
        problems.append(f"{file} has {df.shape[1]} columns; expected 6 ({', '.join(_POSITION_COLUMNS)})")
        return None
    df = df.iloc[:, :6]
    df.columns = _POSITION_COLUMNS
    df = df.set_index("barcode")
    df.index = df.index.astype(str)
    coords = df[["pxl_row_in_fullres", "pxl_col_in_fullres"]].apply(pd.to_numeric, errors="coerce")
    df[["pxl_row_in_fullres", "pxl_col_in_fullres"]] = coords
    df.attrs["file"] = str(file)
    return df


def _read_scalefactors(spatial: Path, problems: list[str]) -> dict:
    file = spatial / "scalefactors_json.json"
    if not file.exists():
        problems.append(f"spatial/scalefactors_json.json not found in {spatial.parent}")
        return {}
    try:
        sf = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        problems.append(f"cannot parse {file} ({err})")
        return {}
    if "spot_diameter_fullres" not in sf:
        problems.append(f"{file} has no spot_diameter_fullres")
    return {k: float(v) for k, v in sf.items() if isinstance(v, (int, float))}
