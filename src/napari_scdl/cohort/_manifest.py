"""The cohort manifest: a CSV with ``sample_id,path`` and optional metadata columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ScdlError


def read_manifest(manifest: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The manifest as a table indexed by ``sample_id`` with a ``path`` column (relative
    paths are taken from the manifest's folder) and the metadata columns (donor,
    condition ...). Every problem is reported in one error."""
    base = Path.cwd()
    if isinstance(manifest, pd.DataFrame):
        df = manifest.copy()
    else:
        path = Path(manifest)
        if not path.is_file():
            raise ScdlError(f"cohort manifest {path} does not exist")
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        base = path.resolve().parent
    df.columns = [str(c).strip() for c in df.columns]
    problems = [f"column '{c}' is missing" for c in ("sample_id", "path") if c not in df.columns]
    if not problems:
        ids = df["sample_id"].astype(str).str.strip()
        if (ids == "").any():
            problems.append(f"{int((ids == '').sum())} rows have an empty sample_id")
        dup = sorted(set(ids[ids.duplicated()]))
        if dup:
            problems.append(f"sample ids are repeated: {', '.join(dup)}")
        bad = [s for s in ids if any(ch in s for ch in '/\\:*?"<>|')]
        if bad:
            problems.append(f"sample ids name files, so they cannot contain / \\ : * ?: {bad}")
        if len(df) < 2:
            problems.append(f"a cohort needs at least 2 slides, the manifest lists {len(df)}")
    if problems:
        raise ScdlError("cohort manifest (columns sample_id,path[,metadata...]):\n- "
                        + "\n- ".join(problems))
    df["sample_id"] = ids
    df["path"] = [str(p if Path(p).is_absolute() else base / p) for p in df["path"].str.strip()]
    return df.set_index("sample_id")


def write_manifest(rows: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest (index or column ``sample_id``, column ``path``, metadata)."""
    df = rows.reset_index() if rows.index.name == "sample_id" else rows
    path = Path(path)
    df.to_csv(path, index=False)
    return path
