"""Editable, undoable, autosaved annotation columns of one sample (no Qt).

An :class:`AnnotationStore` owns the annotation columns of one AnnData. Each column is a
categorical ``obs[column]`` (unlabelled spots are missing) with its colours in
``uns[f"{column}_colors"]`` (scanpy convention). Every edit is a command on a per-store
undo/redo stack, notifies plain-Python callbacks (``store.events.connect(cb)``) and is
saved at once with an atomic write (see :mod:`._autosave`), so a crash loses at most the
edit being made. The napari widgets only call this API.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ScdlError
from . import _autosave as _as
from . import geometry
from ._commands import (
    PALETTE,
    UNS_KEY,
    AnnotationEvent,
    Command,
    Meta,
    Signal,
    UndoStack,
    spot_indices,
    to_hex,
)

__all__ = ["AnnotationStore", "AnnotationEvent", "PALETTE", "spot_indices"]

logger = logging.getLogger(__name__)

_STORES: dict[int, weakref.ref] = {}


class AnnotationStore(UndoStack):
    """Annotation columns of one sample, with undo/redo, events and autosave.

    Use :meth:`for_adata` to get the store of a sample (reloading its autosave).
    """

    def __init__(
        self, adata, *, path: str | Path | None = None, autosave: bool = True, max_undo: int = 500
    ) -> None:
        self.adata = adata
        self.sample_id, self.source = _as.sample_identity(adata)
        self.path = Path(path) if path is not None else None
        self.autosave = autosave
        self.events = Signal()
        self._init_undo(max_undo)
        info = adata.uns.get(UNS_KEY, {})
        self._columns = [c for c in info.get("columns", []) if c in adata.obs]
        self._extra: dict[str, Meta] = {c: Meta() for c in self._columns}
        for col, um in info.get("unmatched", {}).items():
            if col in self._extra:
                pairs = tuple(
                    zip(map(str, um["barcodes"]), map(str, um["categories"]), strict=True)
                )
                self._extra[col] = replace(self._extra[col], unmatched=pairs)

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def for_adata(
        cls, adata, project_dir: str | Path | None = None, *, autosave: bool = True
    ) -> AnnotationStore:
        """The store of ``adata``: the one already open for this object, else a new one
        that reloads the newest autosave of the same sample (same ``sample_id``)."""
        ref = _STORES.get(id(adata))
        store = ref() if ref is not None else None
        if store is not None and store.adata is adata:
            if project_dir is not None:
                store.move_to(project_dir)
            return store
        sid, src = _as.sample_identity(adata)
        for p in _as.candidate_paths(sid, src, project_dir):  # leftovers of killed saves
            _as.remove_stale_temps(p)
        existing = _as.find_existing(sid, src, project_dir)
        store = cls(adata, path=_as.choose_path(sid, src, project_dir), autosave=autosave)
        if existing is not None:
            store.load(existing)
            if existing != store.path and autosave:
                store.save()
        _STORES[id(adata)] = weakref.ref(store)
        return store

    def move_to(self, project_dir: str | Path) -> Path:
        """Save from now on into ``project_dir`` (and write the current state there)."""
        self.path = _as.choose_path(self.sample_id, self.source, project_dir)
        self.save()
        return self.path

    # -- reading ----------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def _check(self, column: str) -> None:
        if column not in self._columns:
            raise ScdlError(
                f"no annotation column {column!r}; existing: {self._columns}. Create it with "
                "store.create_column(name)"
            )

    def categories(self, column: str) -> list[str]:
        self._check(column)
        return list(self.adata.obs[column].cat.categories.astype(str))

    def colors(self, column: str) -> dict[str, str]:
        cats = self.categories(column)
        return dict(zip(cats, self._colors(column, cats), strict=True))

    def labels(self, column: str) -> pd.Series:
        """A copy of the column (categorical, indexed by barcode; unlabelled = NaN)."""
        self._check(column)
        return self.adata.obs[column].copy()

    def counts(self, column: str) -> pd.Series:
        return self.labels(column).value_counts(sort=False)

    def polygons(self, column: str) -> list[dict]:
        """Drawn polygons kept with the column: ``{"category", "exterior", "holes"}``."""
        self._check(column)
        return [dict(p) for p in self._extra[column].polygons]

    def unmatched(self, column: str) -> dict[str, str]:
        """Imported labels whose barcodes are not in this sample (kept, never dropped)."""
        self._check(column)
        return dict(self._extra[column].unmatched)

    def _colors(self, column: str, cats: list[str]) -> list[str]:
        cols = list(self.adata.uns.get(f"{column}_colors", []))
        return [cols[i] if i < len(cols) else PALETTE[i % len(PALETTE)] for i in range(len(cats))]

    def _meta(self, column: str) -> Meta | None:
        if column not in self._columns:
            return None
        cats = self.categories(column)
        return replace(
            self._extra[column],
            categories=tuple(cats),
            colors=tuple(self._colors(column, cats)),
            position=self._columns.index(column),
        )

    def _codes(self, column: str) -> np.ndarray:
        return np.asarray(self.adata.obs[column].cat.codes, dtype=np.int32)

    # -- edits ------------------------------------------------------------------------
    def create_column(
        self,
        name: str,
        *,
        from_key: str | None = None,
        categories: list[str] | tuple = (),
        colors=None,
    ) -> None:
        """Add an annotation column, empty or copied from ``obs[from_key]`` (e.g. a model's
        ``"domain"``: its colours are copied too)."""
        name = str(name)
        if not name or name in self.adata.obs or name in self._columns:
            raise ScdlError(
                f"cannot create annotation column {name!r}: the name is empty or "
                "already used in adata.obs; choose another name"
            )
        n = self.adata.n_obs
        if from_key is not None:
            if from_key not in self.adata.obs:
                raise ScdlError(
                    f"obs[{from_key!r}] does not exist; available: {list(self.adata.obs)}"
                )
            src = self.adata.obs[from_key]
            vals = src.astype("object").where(src.notna(), None)
            cats = (
                list(src.cat.categories.astype(str))
                if hasattr(src, "cat")
                else sorted({str(v) for v in vals if v is not None})
            )
            cat = pd.Categorical([None if v is None else str(v) for v in vals], categories=cats)
            codes = np.asarray(cat.codes, dtype=np.int32)
            src_cols = list(self.adata.uns.get(f"{from_key}_colors", []))
            colors = (
                colors if colors is not None else (src_cols if len(src_cols) == len(cats) else None)
            )
        else:
            cats, codes = [str(c) for c in categories], np.full(n, -1, dtype=np.int32)
        if len(set(cats)) != len(cats):
            raise ScdlError(f"category names must be unique, got {cats}")
        cols = (
            [to_hex(c) for c in colors]
            if colors is not None
            else [PALETTE[i % len(PALETTE)] for i in range(len(cats))]
        )
        after = Meta(tuple(cats), tuple(cols), position=len(self._columns))
        self._push(
            Command(
                f"create column {name}",
                name,
                None,
                after,
                np.arange(n),
                np.full(n, -1, np.int32),
                codes,
            )
        )

    def delete_column(self, name: str) -> None:
        self._check(name)
        codes = self._codes(name)
        self._push(
            Command(
                f"delete column {name}",
                name,
                self._meta(name),
                None,
                np.arange(len(codes)),
                codes,
                np.full(len(codes), -1, np.int32),
            )
        )

    def assign(self, column: str, spots, category: str, *, color=None) -> int:
        """Label ``spots`` (indices, boolean mask or barcodes) as ``category`` (added if new).
        Returns the number of spots that changed."""
        self._check(column)
        idx = spot_indices(self.adata, spots)
        meta, code = self._with_category(column, str(category), color)
        return self._edit_spots(
            column,
            idx,
            np.full(len(idx), code, np.int32),
            meta,
            f"assign {len(idx)} spots to {category}",
        )

    def erase(self, column: str, spots) -> int:
        """Make ``spots`` unlabelled. Returns the number of spots that changed."""
        self._check(column)
        idx = spot_indices(self.adata, spots)
        return self._edit_spots(
            column,
            idx,
            np.full(len(idx), -1, np.int32),
            self._meta(column),
            f"erase {len(idx)} spots",
        )

    def assign_polygon(
        self, column: str, vertices, category: str, *, holes=(), color=None, keep_shape: bool = True
    ) -> int:
        """Label the spots inside a polygon / lasso (``(x, y)`` full-resolution pixels) and
        keep the polygon with the column (for GeoJSON export)."""
        self._check(column)
        poly = geometry.as_polygon(vertices)
        idx = geometry.spots_in_polygon(self.adata, poly, holes=holes)
        meta, code = self._with_category(column, str(category), color)
        if keep_shape:
            shape = {
                "category": str(category),
                "exterior": poly.tolist(),
                "holes": [geometry.as_polygon(h).tolist() for h in holes],
            }
            meta = replace(meta, polygons=meta.polygons + (shape,))
        return self._edit_spots(
            column,
            idx,
            np.full(len(idx), code, np.int32),
            meta,
            f"assign polygon ({len(idx)} spots) to {category}",
        )

    def set_labels(
        self,
        column: str,
        labels: pd.Series,
        *,
        text: str = "set labels",
        unmatched: dict[str, str] | None = None,
    ) -> int:
        """Set the labels of the spots in ``labels`` (barcode-indexed; NaN erases); keep
        ``unmatched`` (barcode -> category outside this sample) with the column."""
        self._check(column)
        labels = labels[labels.index.isin(self.adata.obs_names)]
        idx = self.adata.obs_names.get_indexer(labels.index)
        meta = self._meta(column)
        cats = list(meta.categories)
        for v in pd.unique(labels.dropna().astype(str)):
            if v not in cats:
                cats.append(v)
        meta = replace(
            meta,
            categories=tuple(cats),
            colors=tuple(
                list(meta.colors)
                + [PALETTE[i % len(PALETTE)] for i in range(len(meta.colors), len(cats))]
            ),
        )
        if unmatched:
            merged = dict(meta.unmatched) | {str(k): str(v) for k, v in unmatched.items()}
            meta = replace(meta, unmatched=tuple(merged.items()))
        new = pd.Categorical(labels.astype("object").where(labels.notna(), None), categories=cats)
        return self._edit_spots(column, idx, np.asarray(new.codes, np.int32), meta, text)

    def accept_prediction(
        self,
        column: str,
        key: str = "predicted_label",
        *,
        min_confidence: float = 0.0,
        only_unlabelled: bool = False,
    ) -> int:
        """Copy a model's labels ``obs[key]`` into the column for the spots whose
        ``obs[f"{key}_confidence"]`` (if present) is at least ``min_confidence``."""
        self._check(column)
        if key not in self.adata.obs:
            raise ScdlError(f"obs[{key!r}] does not exist; run napari_scdl.tl.propagate first")
        pred = self.adata.obs[key].astype("object")
        ok = pred.notna().to_numpy()
        conf_key = "predicted_confidence" if key == "predicted_label" else f"{key}_confidence"
        if conf_key in self.adata.obs:
            ok &= self.adata.obs[conf_key].to_numpy(dtype=float) >= min_confidence
        if only_unlabelled:
            ok &= self.adata.obs[column].isna().to_numpy()
        return self.set_labels(column, pred[ok].astype(str), text=f"accept {key}")

    def add_category(self, column: str, name: str, *, color=None) -> None:
        self._check(column)
        if str(name) in self.categories(column):
            raise ScdlError(f"category {name!r} already exists in {column!r}")
        meta, _ = self._with_category(column, str(name), color)
        self._edit_spots(column, np.array([], int), np.array([], np.int32), meta, f"add {name}")

    def rename_category(self, column: str, old: str, new: str) -> None:
        meta = self._meta_with(column, old)
        new = str(new)
        if new in meta.categories:
            raise ScdlError(f"{column!r} already has a category {new!r}; use merge_categories")
        cats = tuple(new if c == old else c for c in meta.categories)
        polys = tuple({**p, "category": new} if p["category"] == old else p for p in meta.polygons)
        meta = replace(meta, categories=cats, polygons=polys)
        self._edit_spots(
            column, np.array([], int), np.array([], np.int32), meta, f"rename {old} to {new}"
        )

    def recolor_category(self, column: str, name: str, color) -> None:
        meta = self._meta_with(column, name)
        cols = list(meta.colors)
        cols[meta.categories.index(name)] = to_hex(color)
        self._edit_spots(
            column,
            np.array([], int),
            np.array([], np.int32),
            replace(meta, colors=tuple(cols)),
            f"recolour {name}",
        )

    def merge_categories(self, column: str, sources, into: str, *, color=None) -> int:
        """Relabel every spot of ``sources`` as ``into`` and remove the emptied sources."""
        sources = [str(s) for s in sources]
        for s in sources:
            self._meta_with(column, s)
        meta, code_into = self._with_category(column, str(into), color)
        codes = self._codes(column)
        src_codes = [meta.categories.index(s) for s in sources]
        idx = np.flatnonzero(np.isin(codes, src_codes))
        new = np.full(len(idx), code_into, np.int32)
        keep = [i for i, c in enumerate(meta.categories) if c not in sources or c == into]
        return self._remap(
            column,
            meta,
            keep,
            idx,
            new,
            f"merge {sources} into {into}",
            {s: str(into) for s in sources},
        )

    def delete_category(self, column: str, name: str) -> int:
        """Remove a category; its spots become unlabelled and its polygons are dropped."""
        meta = self._meta_with(column, name)
        codes = self._codes(column)
        code = meta.categories.index(name)
        idx = np.flatnonzero(codes == code)
        keep = [i for i in range(len(meta.categories)) if i != code]
        return self._remap(
            column,
            meta,
            keep,
            idx,
            np.full(len(idx), -1, np.int32),
            f"delete category {name}",
            {name: None},
        )

    # -- persistence ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON document saved by :meth:`save` (labels stored per barcode)."""
        cols = [(c, self._meta(c), self._codes(c)) for c in self._columns]
        return _as.build_document(self.adata, self.sample_id, self.source, cols)

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the annotations atomically (temp file + ``os.replace``) to ``path`` or the
        autosave path; falls back to the user data dir when that folder is read-only.
        Waits for a background autosave in progress first (see :meth:`flush`)."""
        self.flush()
        target = Path(path) if path is not None else self.path
        if target is None:
            return None
        target, err = self._write(self._snapshot(), target, move=path is None)
        if err is not None:
            self.events.emit(AnnotationEvent("save_failed", text=err))
        return target

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until background autosaves are on disk; False if ``timeout`` passed first."""
        writer = self.__dict__.get("_writer")
        return True if writer is None else writer.flush(timeout)

    def _snapshot(self):
        """What a save writes, copied now (so later edits do not change a save under way)."""
        header = _as.document_header(self.adata, self.sample_id, self.source)
        cols = [(c, self._meta(c), self._codes(c).copy()) for c in self._columns]
        return header, cols

    def _write(self, snapshot, target: Path, *, move: bool) -> tuple[Path | None, str | None]:
        """Write ``snapshot`` to ``target`` (or the fallback folder); ``(path, error)``."""
        names = self.adata.obs_names
        cached = self.__dict__.get("_barcodes")
        if cached is None or cached[0] is not names:  # encoded once per set of barcodes
            cached = self._barcodes = (names, _as.encoded_barcodes(names))
        barcodes = cached[1]
        header, cols = snapshot
        try:
            _as.atomic_write_text(target, _as.iter_document(header, cols, barcodes))
        except OSError as err:
            fallback = _as.candidate_paths(self.sample_id, None)[-1]
            if target == fallback:
                logger.error("could not save annotations to %s: %s", target, err)
                return None, str(err)
            logger.warning(
                "could not save annotations to %s (%s); saving to %s", target, err, fallback
            )
            try:
                _as.atomic_write_text(fallback, _as.iter_document(header, cols, barcodes))
            except OSError as err2:
                logger.error("could not save annotations to %s: %s", fallback, err2)
                return None, str(err2)
            target = fallback
            if move:
                self.path = fallback
        return target, None

    def load(self, path: str | Path) -> None:
        """Replace the annotation columns with those saved in ``path`` (clears undo)."""
        self.flush()
        path = Path(path)
        try:
            doc = _as.read_json(path)
        except (OSError, ValueError) as err:
            raise ScdlError(f"cannot read annotations from {path}: {err}") from err
        if doc.get("format") != _as.FORMAT:
            raise ScdlError(f"{path} is not a napari-scdl annotation file")
        for c in list(self._columns):
            self._write_column(c, None, None)
        for name, meta, codes in _as.parse_document(doc, self.adata.obs_names, str(path)):
            self._write_column(name, meta, codes)
        self._undo.clear()
        self._redo.clear()
        logger.info("loaded annotations %s from %s", self._columns, path)
        self.events.emit(AnnotationEvent("loaded", text=str(path)))

    # -- internals --------------------------------------------------------------------
    def _meta_with(self, column: str, name: str) -> Meta:
        self._check(column)
        meta = self._meta(column)
        if name not in meta.categories:
            raise ScdlError(
                f"{column!r} has no category {name!r}; categories: {list(meta.categories)}"
            )
        return meta

    def _with_category(self, column: str, name: str, color) -> tuple[Meta, int]:
        meta = self._meta(column)
        if name in meta.categories:
            return meta, meta.categories.index(name)
        if not name or name == "nan":
            raise ScdlError(f"{name!r} is not a valid category name")
        col = to_hex(color) if color is not None else PALETTE[len(meta.categories) % len(PALETTE)]
        return replace(
            meta, categories=meta.categories + (name,), colors=meta.colors + (col,)
        ), len(meta.categories)

    def _edit_spots(self, column, idx, new, meta, text) -> int:
        old = self._codes(column)[idx]
        changed = old != new
        idx, old, new = idx[changed], old[changed], new[changed]
        before = self._meta(column)
        if len(idx) == 0 and meta == before:
            return 0
        self._push(Command(text, column, before, meta, idx, old, new))
        return int(len(idx))

    def _remap(self, column, meta, keep, idx, new, text, renames) -> int:
        """Edit spots then drop categories, renumbering codes (one full-column command)."""
        before = self._meta(column)
        old_all = self._codes(column)
        codes = old_all.copy()
        codes[idx] = new
        lut = np.full(len(meta.categories) + 1, -1, np.int32)
        lut[keep] = np.arange(len(keep))
        codes = lut[codes]  # -1 maps to lut[-1] == -1
        polys = tuple(
            {**p, "category": renames[p["category"]]} if p["category"] in renames else p
            for p in meta.polygons
        )
        after = replace(
            meta,
            categories=tuple(meta.categories[i] for i in keep),
            colors=tuple(meta.colors[i] for i in keep),
            polygons=tuple(p for p in polys if p["category"] is not None),
        )
        full = np.arange(len(codes))
        self._push(Command(text, column, before, after, full, old_all, codes))
        return int(len(idx))

    def _saved(self) -> None:
        if not (self.autosave and self.path is not None):
            return
        failed = self.__dict__.pop("_background_error", None)
        if failed is not None:  # a background save failed: say so on the GUI's thread
            self.events.emit(AnnotationEvent("save_failed", text=failed))
        if self.adata.n_obs < ASYNC_AUTOSAVE_SPOTS:
            self.save()
            return
        writer = self.__dict__.get("_writer")
        if writer is None:
            writer = self._writer = _BackgroundWriter(self._write_in_background)
        writer.submit(self._snapshot())

    def _write_in_background(self, snapshot) -> None:
        _, err = self._write(snapshot, self.path, move=True)
        if err is not None:
            self._background_error = err


#: from this many spots, autosaves after an edit are written by a background thread (the
#: edit returns at once; the newest state wins when edits come faster than saves);
#: smaller samples are saved before the edit returns (a few milliseconds)
ASYNC_AUTOSAVE_SPOTS = 50_000


class _BackgroundWriter:
    """One thread writing the newest submitted snapshot; :meth:`flush` waits for it."""

    def __init__(self, write) -> None:
        self._write = write
        self._cv = threading.Condition()
        self._next = None
        self._busy = False
        self._thread: threading.Thread | None = None
        _WRITERS.add(self)

    def submit(self, snapshot) -> None:
        with self._cv:
            self._next = snapshot
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="scdl-autosave", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                if self._next is None:  # idle: end the thread (a new one starts on demand)
                    self._thread = None
                    return
                snapshot, self._next, self._busy = self._next, None, True
            try:
                self._write(snapshot)
            except Exception:  # noqa: BLE001 - never kill the writer; the log says why
                logger.exception("background autosave failed")
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self._next is None and not self._busy, timeout)


_WRITERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:  # a pending autosave is finished before Python exits
    for writer in list(_WRITERS):
        writer.flush(timeout=30)
