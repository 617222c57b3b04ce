"""Where annotations are saved, and the atomic write that keeps the file always valid.

Locations, in the order they are tried when a sample is opened:

1. ``<project_dir>/<sample_id>.scdl-annotations.json`` when a project folder is chosen;
2. ``<source>.scdl-annotations.json`` next to the data (``source`` is the Space Ranger
   folder or the ``.h5ad`` file recorded by :func:`napari_scdl.io.read`);
3. ``<user data dir>/annotations/<sample_id>.scdl-annotations.json`` when the data folder
   is read-only or the sample has no source on disk (``$NAPARI_SCDL_DATA_DIR`` overrides the user
   data dir).

The newest existing file recorded for the same ``sample_id`` is reloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._commands import Meta, to_hex

logger = logging.getLogger(__name__)

SUFFIX = ".scdl-annotations.json"
FORMAT = "napari-scdl-annotations"
FORMAT_VERSION = 1


def sample_identity(adata) -> tuple[str, str | None]:
    """``(sample_id, source)`` of ``adata``: from ``uns['scdl']`` when the reader set it,
    else a hash of the barcodes (so the same barcodes find the same annotations)."""
    meta = adata.uns.get("scdl", {}) if hasattr(adata, "uns") else {}
    sid = meta.get("sample_id") if isinstance(meta, dict) else None
    source = meta.get("source") if isinstance(meta, dict) else None
    if not sid:
        h = hashlib.sha1()
        for bc in adata.obs_names:
            h.update(str(bc).encode())
            h.update(b"\0")
        sid = "barcodes-" + h.hexdigest()[:16]
    return str(sid), (str(source) if source else None)


def user_data_dir() -> Path:
    """Fallback folder for annotations (``$NAPARI_SCDL_DATA_DIR`` or the platform's
    user data dir)."""
    env = os.environ.get("NAPARI_SCDL_DATA_DIR")
    if env:
        return Path(env).expanduser() / "annotations"
    from platformdirs import user_data_dir as _udd

    return Path(_udd("napari-scdl", appauthor=False)) / "annotations"


def _safe(sample_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in sample_id)[:120]


def candidate_paths(sample_id: str, source: str | None, project_dir=None) -> list[Path]:
    """Autosave locations in order of preference (see module docstring)."""
    out = []
    if project_dir is not None:
        out.append(Path(project_dir).expanduser() / f"{_safe(sample_id)}{SUFFIX}")
    if source and Path(source).expanduser().exists():
        src = Path(source).expanduser()
        out.append(src.parent / f"{src.name}{SUFFIX}")
    out.append(user_data_dir() / f"{_safe(sample_id)}{SUFFIX}")
    return out


def writable(path: Path) -> bool:
    """Whether a file can be created in ``path``'s folder (creating the folder if needed)."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a folder marked read-only (no write bit for anyone) is respected even by root
        if not folder.stat().st_mode & 0o222:
            return False
        fd, tmp = tempfile.mkstemp(prefix=".scdl-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def choose_path(sample_id: str, source: str | None, project_dir=None) -> Path:
    """The first writable autosave location."""
    cands = candidate_paths(sample_id, source, project_dir)
    for p in cands:
        if writable(p):
            return p
        logger.warning(
            "cannot write annotations to %s (read-only?); trying the next place", p.parent
        )
    return cands[-1]


def find_existing(sample_id: str, source: str | None, project_dir=None) -> Path | None:
    """The most recently written autosave of ``sample_id`` among the candidate paths."""
    found = []
    for p in candidate_paths(sample_id, source, project_dir):
        if not p.is_file():
            continue
        try:
            data = read_json(p)
        except (OSError, ValueError) as err:
            logger.warning("ignoring unreadable annotation file %s (%s)", p, err)
            continue
        if data.get("format") == FORMAT and data.get("sample_id") == sample_id:
            found.append((p.stat().st_mtime, p))
        else:
            logger.info("%s belongs to another sample; not loading it", p)
    if not found:
        return None
    return max(found, key=lambda t: t[0])[1]


def read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


#: a temporary file younger than this may belong to a save in progress (another process)
STALE_TMP_S = 2.0


def remove_stale_temps(path: Path, *, older_than: float = STALE_TMP_S) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write_json` left beside ``path`` when
    a save was killed (``.<name>.*.tmp``, untouched for ``older_than`` seconds); returns them.

    A killed save never corrupts ``path`` itself (the write is atomic), but each kill left
    one ``.tmp`` file behind; they are removed when the sample is opened again.
    """
    import time

    path = Path(path)
    removed = []
    try:
        leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for tmp in leftovers:
        try:
            if now - tmp.stat().st_mtime < older_than:
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError as err:  # read-only folder, or removed meanwhile
            logger.debug("could not remove %s (%s)", tmp, err)
    if removed:
        logger.info("removed %d leftover temporary file(s) of %s", len(removed), path.name)
    return removed


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` so that a reader never sees a partial file: write a
    temporary file in the same folder, flush and fsync it, then ``os.replace`` it."""
    _atomic_write(path, lambda fh: json.dump(data, fh, separators=(",", ":")))


def atomic_write_text(path: Path, chunks) -> None:
    """:func:`atomic_write_json` for a document already encoded as text ``chunks``."""
    _atomic_write(path, lambda fh: fh.writelines(chunks))


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_PLAIN = re.compile(r'^[^"\\\x00-\x1f\x7f-\U0010ffff]*$')

#: barcodes joined per call when encoding a document (each call holds the GIL briefly,
#: so a save in a background thread never freezes the GUI)
ENCODE_CHUNK = 50_000


def encoded_barcodes(obs_names) -> np.ndarray:
    """Each barcode as its JSON string literal (object array; made once per store)."""
    names = [str(b) for b in obs_names]
    if all(_PLAIN.match(b) for b in names):
        return np.array(['"' + b + '"' for b in names], dtype=object)
    return np.array([json.dumps(b) for b in names], dtype=object)


def document_header(adata, sample_id: str, source: str | None) -> dict[str, Any]:
    """Everything of the saved document but its columns."""
    from .._version import __version__

    meta = adata.uns.get("scdl", {})
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sample_id": sample_id,
        "source": source,
        "library_id": str(meta.get("library_id", "")) if isinstance(meta, dict) else "",
        "n_spots": int(adata.n_obs),
        "napari_scdl": __version__,
        "saved_at": datetime.now(timezone.utc).isoformat(),
    }


def iter_document(header: dict[str, Any], columns, barcodes: np.ndarray):
    """The document of :func:`build_document` as JSON text chunks, without building a
    Python list of every barcode: ``columns`` is a list of ``(name, Meta, codes)``,
    ``barcodes`` comes from :func:`encoded_barcodes`."""
    dumps = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
    yield dumps(header)[:-1] + ',"columns":['
    for k, (name, m, codes) in enumerate(columns):
        yield (
            ("," if k else "") + '{"name":' + dumps(name) + ',"categories":'
            + dumps(list(m.categories)) + ',"colors":' + dumps(list(m.colors)) + ',"labels":{'
        )
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(m.categories) + 1))
        for i, cat in enumerate(m.categories):
            idx = order[bounds[i]: bounds[i + 1]]
            yield ("," if i else "") + dumps(cat) + ":["
            for s in range(0, len(idx), ENCODE_CHUNK):
                yield ("," if s else "") + ",".join(barcodes[idx[s: s + ENCODE_CHUNK]])
            yield "]"
        yield (
            '},"polygons":' + dumps(list(m.polygons)) + ',"unmatched":'
            + dumps(dict(m.unmatched)) + "}"
        )
    yield "]}"


def build_document(adata, sample_id: str, source: str | None, columns) -> dict[str, Any]:
    """The saved JSON document; ``columns`` is a list of ``(name, Meta, codes)``."""
    names = adata.obs_names.to_numpy().astype(str)
    cols = [
        {
            "name": name,
            "categories": list(m.categories),
            "colors": list(m.colors),
            "labels": {cat: names[codes == i].tolist() for i, cat in enumerate(m.categories)},
            "polygons": list(m.polygons),
            "unmatched": dict(m.unmatched),
        }
        for name, m, codes in columns
    ]
    return {**document_header(adata, sample_id, source), "columns": cols}


def parse_document(doc: dict[str, Any], obs_names: pd.Index, where: str) -> list:
    """``(name, Meta, codes)`` per saved column, matched to ``obs_names`` by barcode;
    barcodes not in the sample go to the column's unmatched labels (kept, not dropped)."""
    out = []
    for i, col in enumerate(doc.get("columns", [])):
        cats = [str(c) for c in col["categories"]]
        codes = np.full(len(obs_names), -1, np.int32)
        unmatched = dict(col.get("unmatched", {}))
        for k, cat in enumerate(cats):
            bcs = pd.Index(col["labels"].get(cat, []), dtype=object)
            pos = obs_names.get_indexer(bcs)
            codes[pos[pos >= 0]] = k
            unmatched.update({b: cat for b in bcs[pos < 0]})
        meta = Meta(
            tuple(cats),
            tuple(to_hex(c) for c in col["colors"]),
            tuple(col.get("polygons", [])),
            tuple(unmatched.items()),
            i,
        )
        if unmatched:
            logger.warning(
                "%d labels of %r in %s match no spot of this sample; kept aside",
                len(unmatched),
                col["name"],
                where,
            )
        out.append((col["name"], meta, codes))
    return out
