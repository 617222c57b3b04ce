"""Undo/redo machinery of :class:`~.store.AnnotationStore`: commands, events, helpers.

A command records one edit of one column as the column's metadata before and after
(categories, colours, polygons, unmatched labels) plus the codes of the spots it changed,
so undo and redo are exact and cheap (a paint stroke stores only its spots).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ScdlError

logger = logging.getLogger(__name__)

#: scanpy's default_20 palette, used for new categories
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#279e68",
    "#d62728",
    "#aa40fc",
    "#8c564b",
    "#e377c2",
    "#b5bd61",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
    "#ad494a",
    "#8c6d31",
)
UNS_KEY = "scdl_annotations"


@dataclass(frozen=True)
class AnnotationEvent:
    """What changed: ``kind`` is ``"labels"`` (``indices`` of the spots, None = all),
    ``"categories"``, ``"columns"``, ``"loaded"`` or ``"save_failed"``."""

    kind: str
    column: str | None = None
    indices: np.ndarray | None = None
    text: str = ""


class Signal:
    """Minimal callback list; a failing callback is logged and does not stop the others."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[AnnotationEvent], Any]] = []

    def connect(self, callback: Callable[[AnnotationEvent], Any]) -> Callable:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable) -> None:
        self._callbacks = [c for c in self._callbacks if c is not callback]

    def emit(self, event: AnnotationEvent) -> None:
        for cb in list(self._callbacks):
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - a broken listener must not break the edit
                logger.exception("annotation event callback %r failed", cb)


@dataclass(frozen=True)
class Meta:
    """Everything of a column except the per-spot codes."""

    categories: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    polygons: tuple[dict, ...] = ()
    unmatched: tuple[tuple[str, str], ...] = ()  # (barcode, category) not in this sample
    position: int = -1


@dataclass
class Command:
    text: str
    column: str
    before: Meta | None  # None: the column does not exist
    after: Meta | None
    idx: np.ndarray  # changed spots (all spots when full is True)
    old: np.ndarray
    new: np.ndarray
    children: list[Command] = field(default_factory=list)


class UndoStack:
    """Mixin holding the undo/redo stacks; the store provides ``adata``, ``events``,
    ``_columns``, ``_extra``, ``_codes`` and ``_saved``."""

    def _init_undo(self, max_undo: int) -> None:
        self.max_undo = max_undo
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._group: list[Command] | None = None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> str | None:
        """Undo the last edit; returns its description (None when there is nothing)."""
        if not self._undo:
            return None
        cmd = self._undo.pop()
        self._apply(cmd, forward=False)
        self._redo.append(cmd)
        self._saved()
        return cmd.text

    def redo(self) -> str | None:
        if not self._redo:
            return None
        cmd = self._redo.pop()
        self._apply(cmd, forward=True)
        self._undo.append(cmd)
        self._saved()
        return cmd.text

    @contextmanager
    def group(self, text: str) -> Iterator[None]:
        """Make the edits inside one undo step (e.g. a paint stroke); saved once at the end."""
        if self._group is not None:
            yield
            return
        self._group = []
        try:
            yield
        finally:
            cmds, self._group = self._group, None
            if cmds:
                self._record(
                    Command(
                        text, cmds[0].column, None, None, *([np.array([], int)] * 3), children=cmds
                    )
                )

    def _push(self, cmd: Command) -> None:
        self._apply(cmd, forward=True)
        if self._group is not None:
            self._group.append(cmd)
            return
        self._record(cmd)

    def _record(self, cmd: Command) -> None:
        self._undo.append(cmd)
        del self._undo[: -self.max_undo]
        self._redo.clear()
        self._saved()

    def _apply(self, cmd: Command, *, forward: bool) -> None:
        if cmd.children:
            for child in cmd.children if forward else reversed(cmd.children):
                self._apply(child, forward=forward)
            return
        meta = cmd.after if forward else cmd.before
        existed = cmd.column in self._columns
        codes = None
        if meta is not None:
            codes = self._codes(cmd.column) if existed else np.full(self.adata.n_obs, -1, np.int32)
            codes[cmd.idx] = cmd.new if forward else cmd.old
        self._write_column(cmd.column, meta, codes)
        if meta is None or not existed:
            kind, indices = "columns", None
        elif (cmd.before.categories, cmd.before.colors) != (cmd.after.categories, cmd.after.colors):
            kind, indices = "categories", None
        else:
            kind, indices = "labels", cmd.idx
        self.events.emit(AnnotationEvent(kind, cmd.column, indices, cmd.text))

    def _write_column(self, column: str, meta: Meta | None, codes: np.ndarray | None) -> None:
        obs, uns = self.adata.obs, self.adata.uns
        if meta is None:
            if column in self._columns:
                self._columns.remove(column)
                self._extra.pop(column, None)
                obs.drop(columns=[column], inplace=True)
                uns.pop(f"{column}_colors", None)
        else:
            obs[column] = pd.Categorical.from_codes(codes, categories=list(meta.categories))
            uns[f"{column}_colors"] = list(meta.colors)
            if column not in self._columns:
                pos = (
                    meta.position
                    if 0 <= meta.position <= len(self._columns)
                    else len(self._columns)
                )
                self._columns.insert(pos, column)
            self._extra[column] = Meta(polygons=meta.polygons, unmatched=meta.unmatched)
        info: dict[str, Any] = {"columns": list(self._columns)}
        um = {
            c: {"barcodes": [b for b, _ in m.unmatched], "categories": [v for _, v in m.unmatched]}
            for c, m in self._extra.items()
            if m.unmatched
        }
        if um:
            info["unmatched"] = um
        uns[UNS_KEY] = info

    def _saved(self) -> None:  # overridden by the store
        pass


def spot_indices(adata, spots) -> np.ndarray:
    """Indices (int array) from indices, a boolean mask or barcodes; unknown ones raise."""
    if isinstance(spots, (pd.Index, pd.Series)):
        spots = spots.to_numpy()
    arr = np.asarray(spots)
    if arr.size == 0:
        return np.array([], dtype=np.int64)
    arr = arr.ravel()
    n = adata.n_obs
    if arr.dtype == bool:
        if len(arr) != n:
            raise ScdlError(f"a boolean spot mask needs {n} values, got {len(arr)}")
        return np.flatnonzero(arr)
    if arr.dtype.kind in "iu":
        if arr.min() < -n or arr.max() >= n:
            raise ScdlError(f"spot indices must be in [0, {n}), got {arr.min()}..{arr.max()}")
        return np.unique(arr % n)
    pos = adata.obs_names.get_indexer(arr.astype(str))
    if (pos < 0).any():
        bad = arr[pos < 0]
        raise ScdlError(
            f"{len(bad)} of {len(arr)} barcodes are not in this sample (e.g. "
            f"{list(bad[:3])}); use napari_scdl.annotations.io to import with a report"
        )
    return np.unique(pos)


def to_hex(color) -> str:
    """``"#rrggbb"`` from a name, hex string or RGB(A) tuple (0-1 floats or 0-255 ints)."""
    from matplotlib.colors import to_hex as _mpl_hex

    if isinstance(color, (list, tuple, np.ndarray)) and len(color) >= 3 and max(color[:3]) > 1:
        color = [float(c) / 255 for c in color[:3]]
    try:
        return _mpl_hex(color)
    except ValueError as err:
        raise ScdlError(f"{color!r} is not a colour (use a name, '#rrggbb' or r, g, b)") from err
