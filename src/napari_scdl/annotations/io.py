"""Import and export annotations: Loupe Browser CSV, QuPath GeoJSON, AnnData ``.h5ad``,
SpatialData shapes.

* CSV: ``Barcode,<column>`` rows (what Loupe Browser exports and imports); only labelled
  spots are written.
* GeoJSON: a ``FeatureCollection`` of ``Polygon``/``MultiPolygon`` features in
  full-resolution pixel coordinates ``(x, y)`` with QuPath's properties
  ``{"objectType": "annotation", "classification": {"name", "color": [r, g, b]}}``.
* ``.h5ad``: the AnnData with the annotation column(s) in ``obs``.
* SpatialData: a shapes element of polygons with ``category`` and ``color`` columns, in
  the sample's coordinate system (readable by spatialdata and napari-spatialdata).

Imports never drop labels silently: they return an :class:`ImportReport` with the number
of matched and unmatched barcodes, unmatched labels are kept in the store (and in
``uns['scdl_annotations']['unmatched']``), and a file that matches nothing raises.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFormatError, ScdlError
from . import geometry
from ._autosave import atomic_write_json
from ._commands import to_hex
from .store import AnnotationStore

logger = logging.getLogger(__name__)

_BARCODE = re.compile(r"^[ACGTN]{6,}(-\d+)?$")


@dataclass
class ImportReport:
    """Outcome of an import: how many labels matched spots of the sample."""

    source: str
    column: str
    n_labels: int
    n_matched: int
    unmatched: dict[str, str] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def n_unmatched(self) -> int:
        return len(self.unmatched)

    def __str__(self) -> str:
        msg = (
            f"{self.source}: {self.n_matched} of {self.n_labels} labels matched spots of "
            f"this sample into {self.column!r} ({len(self.categories)} categories)"
        )
        if self.unmatched:
            msg += f"; {self.n_unmatched} did not match and were kept aside (e.g. {list(self.unmatched)[:3]})"
        return msg + (f"; {self.note}" if self.note else "")


# -- barcodes ------------------------------------------------------------------------
def read_csv_labels(path: str | Path) -> pd.Series:
    """``barcode -> category`` from a Loupe-style CSV (header ``Barcode,<name>``; the
    series is named after the second header; ``.tsv`` and headerless files work too)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"label file {path} not found")
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataFormatError(f"{path} is not a barcode,category CSV file ({err})") from err
    if df.shape[1] < 2:
        raise DataFormatError(
            f"{path} needs two columns, barcode and category; found {list(df.columns)}"
        )
    if _BARCODE.match(str(df.columns[0])):  # no header row
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, header=None)
        name = path.stem
    else:
        name = str(df.columns[1])
    bc = df.iloc[:, 0].astype(str).str.strip()
    cat = df.iloc[:, 1].astype(str).str.strip()
    keep = (bc != "") & (cat != "")
    s = pd.Series(
        cat[keep].to_numpy(), index=pd.Index(bc[keep].to_numpy(), name="Barcode"), name=name
    )
    dup = s.index.duplicated(keep="last")
    if dup.any():
        logger.warning(
            "%s: %d duplicated barcodes; the last label of each is used", path, dup.sum()
        )
        s = s[~dup]
    return s


def match_labels(
    adata, labels: pd.Series, *, source: str = "labels", column: str = ""
) -> tuple[pd.Series, ImportReport]:
    """Match barcode-indexed ``labels`` to ``adata.obs_names``.

    Tries exact barcodes, then barcodes without/with the ``-1`` suffix (Loupe vs Space
    Ranger spelling). Returns the matched labels (indexed by ``obs_names``) and a report;
    raises :class:`ScdlError` when nothing matches.
    """
    labels = labels.dropna().astype(str)
    labels.index = labels.index.astype(str)
    names = pd.Index(adata.obs_names.astype(str))
    idx, note = names.get_indexer(labels.index), ""
    if (idx < 0).all() and len(labels):
        stripped = pd.Index(names.str.replace(r"-\d+$", "", regex=True))
        if stripped.is_unique:
            idx2 = stripped.get_indexer(labels.index.str.replace(r"-\d+$", "", regex=True))
            if (idx2 >= 0).any():
                idx, note = idx2, "barcodes matched after ignoring the '-N' suffix"
    ok = idx >= 0
    matched = pd.Series(labels.to_numpy()[ok], index=names[idx[ok]], name=labels.name)
    unmatched = dict(zip(labels.index[~ok], labels.to_numpy()[~ok], strict=True))
    report = ImportReport(
        source,
        column or str(labels.name or ""),
        len(labels),
        int(ok.sum()),
        unmatched,
        sorted(pd.unique(matched)),
        note,
    )
    if len(labels) and not ok.any():
        raise ScdlError(
            f"{source}: none of its {len(labels)} barcodes (e.g. {list(labels.index[:3])}) "
            f"are spots of this sample (e.g. {list(names[:3])}); is it from another slide?"
        )
    if not len(labels):
        raise ScdlError(f"{source} holds no labels")
    if unmatched:
        logger.warning("%s", report)
    return matched, report


def import_labels(
    store: AnnotationStore, labels: pd.Series, column: str | None = None, *, source: str = "labels"
) -> ImportReport:
    """Put barcode-indexed ``labels`` into ``column`` (created if needed) as one undoable
    edit; unmatched labels are kept with the column."""
    column = str(column or labels.name or "imported")
    matched, report = match_labels(store.adata, labels, source=source, column=column)
    with store.group(f"import {source}"):
        if column not in store.columns:
            store.create_column(column)
        store.set_labels(column, matched, text=f"import {source}", unmatched=report.unmatched)
    return report


def import_csv(store: AnnotationStore, path: str | Path, column: str | None = None) -> ImportReport:
    """Import a Loupe Browser ``Barcode,<name>`` CSV into ``column`` (default: ``<name>``)."""
    labels = read_csv_labels(path)
    return import_labels(store, labels, column, source=Path(path).name)


def export_csv(
    store: AnnotationStore, column: str, path: str | Path, *, include_unmatched: bool = False
) -> Path:
    """Write ``Barcode,<column>`` for the labelled spots (Loupe Browser's format)."""
    s = store.labels(column).dropna().astype(str)
    if include_unmatched:
        s = pd.concat([s, pd.Series(store.unmatched(column), dtype=str)])
    df = pd.DataFrame({"Barcode": s.index.astype(str), column: s.to_numpy()})
    return _write_text(Path(path), df.to_csv(index=False))


def _write_text(path: Path, text: str) -> Path:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


# -- GeoJSON -------------------------------------------------------------------------
def read_geojson(path: str | Path) -> list[dict]:
    """Polygons of a QuPath / GeoJSON file: ``{"category", "color", "exterior", "holes"}``
    (``(x, y)`` full-resolution pixels). Features without a class get ``"Unclassified"``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataFormatError(f"cannot read GeoJSON {path}: {err}") from err
    feats = doc.get("features", [doc]) if isinstance(doc, dict) else doc
    out, skipped = [], 0
    for f in feats:
        geom = (f or {}).get("geometry") or {}
        props = f.get("properties") or {}
        cls = props.get("classification") or {}
        name = cls.get("name") or props.get("name") or props.get("category") or "Unclassified"
        color = cls.get("color") or props.get("color")
        polys = {"Polygon": [geom.get("coordinates")], "MultiPolygon": geom.get("coordinates")}.get(
            geom.get("type")
        )
        if not polys:
            skipped += 1
            continue
        for rings in polys:
            out.append(
                {
                    "category": str(name),
                    "color": color,
                    "exterior": np.asarray(rings[0], float)[:, :2],
                    "holes": [np.asarray(r, float)[:, :2] for r in rings[1:]],
                }
            )
    if skipped:
        logger.warning("%s: %d features are not polygons and were skipped", path, skipped)
    if not out:
        raise DataFormatError(f"{path} holds no Polygon or MultiPolygon features")
    return out


def import_geojson(
    store: AnnotationStore, path: str | Path, column: str, *, scale: float = 1.0
) -> ImportReport:
    """Label the spots inside each polygon of a GeoJSON file with its class (one undoable
    edit; the polygons are kept with the column). ``scale`` multiplies the coordinates
    (e.g. 1 / hires scale factor when the polygons were drawn on the hires image)."""
    polys = read_geojson(path)
    xy = geometry.spot_xy(store.adata)
    inside_any = np.zeros(len(xy), bool)
    empty = 0
    for p in polys:
        mask = geometry.points_in_polygon(
            xy, p["exterior"] * scale, holes=[h * scale for h in p["holes"]]
        )
        inside_any |= mask
        empty += not mask.any()
    if not inside_any.any():
        raise ScdlError(
            f"{Path(path).name}: none of its {len(polys)} polygons contains a spot; are the "
            "coordinates full-resolution pixels (x, y)? Pass scale= if they are not"
        )
    with store.group(f"import {Path(path).name}"):
        if column not in store.columns:
            store.create_column(column)
        for p in polys:
            store.assign_polygon(
                column, p["exterior"] * scale, p["category"], holes=[h * scale for h in p["holes"]]
            )
            if p["color"] is not None:
                store.recolor_category(column, p["category"], _qupath_color(p["color"]))
    note = f"{empty} polygons contain no spot (kept with the column)" if empty else ""
    return ImportReport(
        Path(path).name,
        column,
        len(polys),
        int(inside_any.sum()),
        {},
        sorted({p["category"] for p in polys}),
        note,
    )


def _qupath_color(c):
    if isinstance(c, int):  # QuPath's packed ARGB integer
        return ((c >> 16) & 255, (c >> 8) & 255, c & 255)
    return c


def _items(store: AnnotationStore, column: str, shapes: str):
    """``(category, exterior, holes)`` per polygon in full-resolution pixels (x, y)."""
    if shapes == "drawn":
        return [
            (p["category"], np.asarray(p["exterior"]), [np.asarray(h) for h in p["holes"]])
            for p in store.polygons(column)
        ]
    if shapes == "outline":
        labels = store.labels(column).astype("object")
        xy = geometry.spot_xy(store.adata)
        return [
            (cat, ext, holes)
            for cat in store.categories(column)
            for ext, holes in geometry.outline(xy[(labels == cat).to_numpy()])
        ]
    raise ScdlError(f"shapes must be 'outline' or 'drawn', not {shapes!r}")


def export_geojson(
    store: AnnotationStore, column: str, path: str | Path, *, shapes: str = "outline"
) -> Path:
    """Write one QuPath annotation per polygon: ``shapes="outline"`` outlines the labelled
    spots of each category (see :func:`geometry.outline`); ``"drawn"`` writes the polygons
    drawn or imported into the column."""
    colors = store.colors(column)
    feats = []
    for cat, ext, holes in _items(store, column, shapes):
        rgb = [int(round(v * 255)) for v in _rgb(colors.get(cat, "#808080"))]
        rings = [_ring(ext)] + [_ring(h) for h in holes]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": rings},
                "properties": {
                    "objectType": "annotation",
                    "name": cat,
                    "classification": {"name": cat, "color": rgb},
                },
            }
        )
    path = Path(path)
    atomic_write_json(path, {"type": "FeatureCollection", "features": feats})
    return path


# -- SpatialData -----------------------------------------------------------------------
def annotation_shapes(store: AnnotationStore, column: str, *, shapes: str = "outline"):
    """The annotation polygons as a SpatialData shapes element (GeoDataFrame with
    ``category`` and ``color`` columns) in the sample's coordinate system: the store's
    one when the sample came from SpatialData, else ``global`` = full-resolution pixels."""
    import geopandas as gpd
    from shapely.geometry import Polygon
    from spatialdata.models import ShapesModel
    from spatialdata.transformations import Affine, Identity

    colors = store.colors(column)
    items = _items(store, column, shapes)
    gdf = gpd.GeoDataFrame(
        {"category": pd.Categorical([c for c, _, _ in items]),
         "color": [to_hex(colors.get(c, "#808080")) for c, _, _ in items]},
        geometry=[Polygon(np.asarray(e, float), [np.asarray(h, float) for h in hs])
                  for _, e, hs in items])
    info = (store.adata.uns.get("scdl") or {}).get("spatialdata") or {}
    cs = info.get("coordinate_system") or "global"
    if info.get("pixel_from_cs"):
        cs_from_pix = np.linalg.inv(np.asarray(info["pixel_from_cs"], float).reshape(3, 3))
        transform = Affine(cs_from_pix, input_axes=("x", "y"), output_axes=("x", "y"))
    else:
        transform = Identity()
    return ShapesModel.parse(gdf, transformations={cs: transform})


def export_spatialdata(
    store: AnnotationStore, column: str, path: str | Path, *, shapes: str = "outline",
    element: str | None = None,
) -> Path:
    """Write the annotation polygons as shapes element ``element`` (default
    ``{column}_annotations``) into the SpatialData store ``path``: added to it when it
    exists (never the sample's input store), else a new store holding only them."""
    import spatialdata as sd

    from ..io.spatialdata import is_spatialdata_store

    path = Path(path).expanduser().resolve()
    element = element or f"{column}_annotations".replace(" ", "_")
    info = (store.adata.uns.get("scdl") or {}).get("spatialdata") or {}
    if info.get("path") and Path(info["path"]).resolve() == path:
        raise ScdlError(f"{path} is the sample's input store; export the annotations to another "
                        "store (or save the sample to a new store first)")
    gdf = annotation_shapes(store, column, shapes=shapes)
    if path.exists():
        if not is_spatialdata_store(path):
            raise ScdlError(f"{path} exists and is not a SpatialData store")
        sdata = sd.read_zarr(path)
        if element in sdata.shapes:
            sdata.delete_element_from_disk(element)
        sdata[element] = gdf
        sdata.write_element(element)
    else:
        sd.SpatialData(shapes={element: gdf}).write(path)
    logger.info("wrote %d annotation polygons of %r to %s/shapes/%s", len(gdf), column, path, element)
    return path


def _ring(xy) -> list[list[float]]:
    xy = np.asarray(xy, float)
    if not np.array_equal(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])
    return np.round(xy, 2).tolist()


def _rgb(color) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(to_hex(color))


# -- h5ad ----------------------------------------------------------------------------
def export_h5ad(store: AnnotationStore, path: str | Path) -> Path:
    """Write the sample's AnnData, with its annotation columns, to ``path``."""
    path = Path(path)
    try:
        from ..io import write_h5ad
    except ImportError:  # reader module not available: plain anndata writer
        store.adata.write_h5ad(path)
        return path
    return write_h5ad(store.adata, path)


def import_h5ad(
    store: AnnotationStore, path: str | Path, key: str, column: str | None = None
) -> ImportReport:
    """Import ``obs[key]`` of another ``.h5ad`` (matched by barcode) into ``column``."""
    import anndata as ad

    path = Path(path)
    try:
        other = ad.read_h5ad(path, backed="r")
    except (OSError, ValueError) as err:
        raise DataFormatError(f"cannot read {path}: {err}") from err
    try:
        if key not in other.obs:
            raise ScdlError(f"{path.name} has no obs[{key!r}]; available: {list(other.obs)}")
        labels = other.obs[key].astype("object").dropna().astype(str)
    finally:
        other.file.close()
    labels.name = key
    return import_labels(store, labels, column or key, source=path.name)
