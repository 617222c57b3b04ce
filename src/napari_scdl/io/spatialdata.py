"""SpatialData ``.zarr`` stores (scverse) to and from the AnnData our tools use.

Reading picks one table, the region (shapes or labels element) it annotates, a coordinate
system and an image; ``obsm['spatial']`` is (x, y) in that image's pixel frame (level 0),
so the existing tools and the layer converter work unchanged. The SpatialData object is
kept (lazily) for the layers (multiscale image, cell polygons, labels) and for writing
back: :func:`write_spatialdata` writes the input's elements plus our table.
``spatialdata`` is imported lazily.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from ._images import to_uint8_rgb
from ._sample import finish_sample

logger = logging.getLogger(__name__)

_THUMB_MAX = 2000  # longest side of the image copy kept in uns['spatial'] (h5ad-safe)
# sample_id -> SpatialData (the layers and the writer use it; re-read from `path` if gone)
_SDATA: dict = {}


def is_spatialdata_store(path: str | Path) -> bool:
    """Whether ``path`` is a SpatialData zarr store (a folder with ``tables/``, ``images/``...
    and zarr group metadata)."""
    path = Path(path)
    if not path.is_dir():
        return False
    has_group = (path / ".zgroup").exists() or (path / "zarr.json").exists()
    kinds = {"images", "labels", "points", "shapes", "tables", "table"}
    return has_group and any((path / k).is_dir() for k in kinds)


def _sd():
    try:
        import spatialdata as sd
    except ImportError as err:  # pragma: no cover - a dependency
        raise DataFormatError(
            "reading SpatialData needs the spatialdata package: pip install spatialdata"
        ) from err
    return sd


def read_spatialdata(
    path: str | Path,
    *,
    table: str | None = None,
    region: str | None = None,
    coordinate_system: str | None = None,
    image: str | None = None,
    pixel_frame: str | None = None,
    library_id: str | None = None,
):
    """Read a SpatialData ``.zarr`` store into one AnnData.

    Parameters
    ----------
    table
        Name of the table; default: the first one annotating shapes or labels.
    region
        The element the table annotates to show (when it annotates several).
    coordinate_system
        Default: ``global`` if the region lives there, else the region's first one.
    image
        Image giving the pixel frame; default: the largest image in that system.
    pixel_frame
        ``"image"``: ``obsm['spatial']`` in that image's level-0 pixels;
        ``"coordinate_system"``: in the coordinate system's units. Default: the finer of
        the two (a Visium store whose system is full-resolution pixels and whose images
        are downscaled copies keeps full-resolution pixels; Xenium, whose system is in
        micrometres at 0.2 um per pixel, gets image pixels), or what napari-scdl wrote.

    Returns
    -------
    AnnData as :func:`from_spatialdata` writes it.
    """
    sd = _sd()
    path = Path(path).expanduser()
    if not is_spatialdata_store(path):
        raise DataFormatError(
            f"{path} is not a SpatialData store: expected a .zarr folder with zarr metadata "
            "(.zgroup or zarr.json) and images/, labels/, shapes/, points/ or tables/"
        )
    try:
        sdata = sd.read_zarr(path)
    except Exception as err:  # noqa: BLE001 - zarr/ome-zarr raise many kinds
        raise DataFormatError(f"cannot read the SpatialData store {path} ({err})") from err
    return from_spatialdata(sdata, table=table, region=region, coordinate_system=coordinate_system,
                            image=image, pixel_frame=pixel_frame, source=path,
                            library_id=library_id or path.stem)


def _table_attrs(adata) -> dict:
    attrs = dict(adata.uns.get("spatialdata_attrs") or {})
    region = attrs.get("region")
    attrs["regions"] = [region] if isinstance(region, str) else list(region or [])
    return attrs


def _pick_table(sdata, table: str | None) -> str:
    names = list(sdata.tables)
    if not names:
        raise DataFormatError(
            "the SpatialData store has no table; napari-scdl needs an AnnData table of counts "
            "annotating the spots, cells or bins (shapes or labels)"
        )
    if table is not None:
        if table not in names:
            raise DataFormatError(f"table {table!r} not in the store (tables: {names})")
        return table
    elements = set(sdata.shapes) | set(sdata.labels)
    for name in names:
        if set(_table_attrs(sdata.tables[name])["regions"]) & elements:
            return name
    return names[0]


def _affine(element, cs: str) -> np.ndarray:
    """3x3 (x, y) affine of ``element``'s intrinsic frame -> coordinate system ``cs``."""
    from spatialdata.transformations import get_transformation

    t = get_transformation(element, to_coordinate_system=cs)
    return np.asarray(t.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y")), float)


def _systems(element) -> list[str]:
    from spatialdata.transformations import get_transformation

    return list(get_transformation(element, get_all=True))


def _level0(image):
    """The full-resolution DataArray of an image or labels element (multiscale or not)."""
    return levels(image)[0]


def levels(image) -> list:
    """Every pyramid level of an image/labels element as a DataArray, largest first."""
    from xarray import DataTree

    if isinstance(image, DataTree):
        keys = sorted(image.children, key=lambda k: int("".join(filter(str.isdigit, k)) or 0))
        return [next(iter(image[k].ds.data_vars.values())) for k in keys]
    return [image]


def _pick_image(sdata, cs: str, image: str | None) -> str | None:
    if image is not None:
        if image not in sdata.images:
            raise DataFormatError(f"image {image!r} not in the store (images: {list(sdata.images)})")
        return image
    found = [n for n in sdata.images if cs in _systems(sdata.images[n])]
    if not found:
        return None
    return max(found, key=lambda n: int(np.prod(_level0(sdata.images[n]).shape[-2:])))


def from_spatialdata(
    sdata,
    *,
    table: str | None = None,
    region: str | None = None,
    coordinate_system: str | None = None,
    image: str | None = None,
    pixel_frame: str | None = None,
    source: str | Path = "",
    library_id: str = "spatialdata",
    boundaries: str | None = None,
):
    """One AnnData from a SpatialData object (see :func:`read_spatialdata`).

    ``obsm['spatial']``: (x, y) centroids in the image's level-0 pixels or the coordinate
    system's units (see ``pixel_frame`` of :func:`read_spatialdata`); ``uns['spatial'][library_id]``: a small copy
    of the image (``lowres``) with ``tissue_lowres_scalef`` and ``spot_diameter_fullres``;
    ``uns['scdl']['spatialdata']``: table, region, coordinate system, image, the
    pixel-from-system affine and the geometry (``circle``, ``polygon``, ``square``,
    ``labels``). The input table is not modified.
    """
    sd = _sd()
    tname = _pick_table(sdata, table)
    tab = sdata.tables[tname]
    attrs = _table_attrs(tab)
    regions, region_key, instance_key = attrs["regions"], attrs.get("region_key"), attrs.get("instance_key")
    if region is None:
        present = [r for r in regions if r in sdata.shapes or r in sdata.labels]
        if not present:
            raise DataFormatError(
                f"table {tname!r} annotates {regions or 'no element'}, none of which is a "
                f"shapes or labels element of the store (shapes: {list(sdata.shapes)}, "
                f"labels: {list(sdata.labels)})"
            )
        region = present[0]
    elif region not in regions:
        raise DataFormatError(f"table {tname!r} does not annotate {region!r} (it annotates {regions})")
    element = sdata.shapes[region] if region in sdata.shapes else sdata.labels[region]
    systems = _systems(element)
    cs = coordinate_system or ("global" if "global" in systems else systems[0])
    if cs not in systems:
        raise DataFormatError(f"{region!r} is not in coordinate system {cs!r} (it is in {systems})")
    img = _pick_image(sdata, cs, image)
    written = (tab.uns.get("scdl") or {}).get("pixel_frame")
    pixel_frame = pixel_frame or (written if isinstance(written, str) else None)
    if pixel_frame is None and img is not None:  # the finer of the two frames
        a = _affine(sdata.images[img], cs)
        cs_per_pixel = float(np.sqrt(abs(np.linalg.det(a[:2, :2]))))
        pixel_frame = "coordinate_system" if cs_per_pixel > 1 + 1e-6 else "image"
    pixel_frame = pixel_frame or "image"
    if pixel_frame not in ("image", "coordinate_system"):
        raise DataFormatError(f"pixel_frame must be 'image' or 'coordinate_system', not {pixel_frame!r}")
    on_image = img is not None and pixel_frame == "image"
    pix = np.linalg.inv(_affine(sdata.images[img], cs)) if on_image else np.eye(3)

    rows = np.ones(tab.n_obs, bool) if region_key is None else (tab.obs[region_key] == region).to_numpy()
    adata = tab[rows].copy()
    cent = sd.get_centroids(element, coordinate_system=cs).compute()
    ids = adata.obs[instance_key].to_numpy() if instance_key in adata.obs else adata.obs_names
    missing = ~np.isin(ids, cent.index.to_numpy())
    if missing.any():
        raise DataFormatError(
            f"{missing.sum()} rows of table {tname!r} have no instance in {region!r} "
            f"(e.g. {list(ids[missing][:3])})"
        )
    xy = cent.loc[ids, ["x", "y"]].to_numpy(float)
    adata.obsm["spatial"] = (np.c_[xy, np.ones(len(xy))] @ pix.T)[:, :2]
    if not adata.obs_names.is_unique:
        adata.obs_names = [f"{region}-{i}" for i in ids]

    el_to_pix = pix @ _affine(element, cs)
    geometry, diameter = _geometry(element, region in sdata.labels, el_to_pix)
    scalefactors = {"spot_diameter_fullres": diameter} if diameter else {}
    images = {}
    if img:
        thumb, scalef = thumbnail(sdata.images[img])
        img_from_pix = np.linalg.inv(pix @ _affine(sdata.images[img], cs))
        scalef *= float(np.sqrt(abs(np.linalg.det(img_from_pix[:2, :2]))))
        images["lowres"], scalefactors["tissue_lowres_scalef"] = thumb, scalef
    adata.uns["spatial"] = {library_id: {"images": images, "scalefactors": scalefactors,
                                         "metadata": {}}}
    adata.uns.pop("spatialdata_attrs", None)
    previous = dict(adata.uns.get("scdl") or {})  # a store napari-scdl wrote before
    finish_sample(adata, library_id=library_id, source=source or ".")
    if on_image is False and img is not None:
        adata.uns["scdl"]["pixel_frame"] = "coordinate_system"
    if previous.get("sample_id"):
        adata.uns["scdl"]["sample_id"] = previous["sample_id"]  # autosave follows the sample
    boundaries = boundaries or _boundaries(sdata, region, element)
    adata.uns["scdl"]["spatialdata"] = {
        "path": str(Path(source).resolve()) if source and is_spatialdata_store(source) else "",
        "table": tname, "region": region, "region_key": region_key or "",
        "instance_key": instance_key or "", "coordinate_system": cs, "image": img or "",
        "geometry": geometry, "boundaries": boundaries or "",
        "pixel_from_cs": pix.ravel().tolist(),
    }
    _SDATA[adata.uns["scdl"]["sample_id"]] = sdata
    logger.info("read %d %s x %d genes from table %r (region %r, system %r, image %r)",
                adata.n_obs, geometry, adata.n_vars, tname, region, cs, img)
    return adata


def _boundaries(sdata, region: str, element) -> str | None:
    """A polygon shapes element outlining the same instances as ``region`` (cell
    boundaries beside cell circles), if the store has one."""
    if region not in sdata.shapes:
        return None
    index = element.index
    for name, gdf in sdata.shapes.items():
        if name == region or len(gdf) != len(index) or "radius" in gdf.columns:
            continue
        if gdf.index.equals(index) or set(gdf.index) == set(index):
            return name
    return None


def _geometry(element, is_labels: bool, el_to_pix: np.ndarray) -> tuple[str, float | None]:
    """(geometry kind, median diameter in pixels) of a shapes/labels element."""
    scale = float(np.sqrt(abs(np.linalg.det(el_to_pix[:2, :2]))))
    if is_labels:
        return "labels", None
    geom = element.geometry
    if "radius" in element.columns:
        return "circle", float(np.median(element["radius"].to_numpy(float))) * 2 * scale
    area = geom.area.to_numpy(float)
    n_vertices = geom.apply(lambda g: len(g.exterior.coords) if g.geom_type == "Polygon" else 0)
    square = bool(len(geom)) and (n_vertices == 5).all() and np.allclose(
        area, geom.envelope.area.to_numpy(float), rtol=1e-3)
    if square:
        return "square", float(np.median(np.sqrt(area))) * scale
    return "polygon", float(np.median(2 * np.sqrt(area / np.pi))) * scale


def thumbnail(image, *, max_side: int = _THUMB_MAX) -> tuple[np.ndarray, float]:
    """A uint8 RGB copy of an image element (the pyramid level nearest ``max_side``,
    strided further if needed) and its scale factor relative to level 0."""
    levs = levels(image)
    full = levs[0].shape[-1]
    lev = next((lv for lv in levs if max(lv.shape[-2:]) <= max_side), levs[-1])
    step = max(1, int(np.ceil(max(lev.shape[-2:]) / max_side)))
    arr = np.asarray(lev.data[..., ::step, ::step])
    scalef = arr.shape[-1] / full
    return display_rgb(arr), float(scalef)


def display_rgb(arr: np.ndarray) -> np.ndarray:
    """(c, y, x) of any dtype as uint8 RGB (y, x, 3): RGB images kept, fluorescence
    channels (first three) contrast-stretched between the 1st and 99.8th percentile."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[0] in (3, 4) and arr.dtype == np.uint8:
        return to_uint8_rgb(np.moveaxis(arr, 0, -1))
    chans = []
    for c in arr[:3].astype(np.float32):
        lo, hi = np.percentile(c, [1, 99.8]) if c.size else (0, 1)
        chans.append(np.clip((c - lo) / max(hi - lo, 1e-6), 0, 1))
    if len(chans) == 1:
        chans *= 3
    elif len(chans) == 2:
        chans.append(np.zeros_like(chans[0]))
    return (np.stack(chans, -1) * 255).round().astype(np.uint8)


def get_spatialdata(adata):
    """The SpatialData object ``adata`` was read from (kept, or re-read from its store);
    None for samples that did not come from SpatialData."""
    info = (adata.uns.get("scdl") or {}).get("spatialdata")
    if not info:
        return None
    sdata = _SDATA.get((adata.uns.get("scdl") or {}).get("sample_id"))
    if sdata is None and info.get("path") and Path(info["path"]).exists():
        sdata = _sd().read_zarr(info["path"])
        _SDATA[adata.uns["scdl"]["sample_id"]] = sdata
    return sdata


def to_spatialdata(adata, *, table_name: str = "table"):
    """A SpatialData object holding ``adata`` as its table.

    Samples read from SpatialData (or Xenium/Visium HD) keep every input element and get
    their table replaced; other samples (Space Ranger, ``.h5ad``) become circles of the
    spot diameter in pixel units plus their tissue image (scaled to the same frame).
    """
    sd = _sd()
    from spatialdata.models import TableModel

    info = (adata.uns.get("scdl") or {}).get("spatialdata")
    src = get_spatialdata(adata)
    table = adata.copy()
    table.uns.pop("spatialdata_attrs", None)
    if src is not None:
        region, rk, ik = info["region"], info["region_key"] or "region", info["instance_key"]
        tname = info["table"] or table_name
        table.obs[rk] = region
        if not ik:
            ik = "instance_id"
            table.obs[ik] = np.arange(table.n_obs)
        table.obs[rk] = table.obs[rk].astype("category")
        table = TableModel.parse(table, region=region, region_key=rk, instance_key=ik,
                                 overwrite_metadata=True)
        return sd.SpatialData(images=dict(src.images), labels=dict(src.labels),
                             points=dict(src.points), shapes=dict(src.shapes),
                             tables={**{k: v for k, v in src.tables.items() if k != tname},
                                     tname: table})
    return _from_plain(adata, table, table_name)


def _from_plain(adata, table, table_name: str):
    sd = _sd()
    import geopandas as gpd
    from shapely.geometry import Point
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from spatialdata.transformations import Identity, Scale

    from ..layers import library_id as _lib
    from ..layers import spot_diameter

    lib = _lib(adata)
    name = f"{lib or 'sample'}_spots".replace(" ", "_")
    xy = np.asarray(adata.obsm["spatial"], float)[:, :2]
    gdf = gpd.GeoDataFrame({"radius": np.full(len(xy), spot_diameter(adata) / 2)},
                           geometry=[Point(x, y) for x, y in xy],
                           index=np.arange(len(xy)))
    shapes = {name: ShapesModel.parse(gdf, transformations={"global": Identity()})}
    images = {}
    spatial = (adata.uns.get("spatial") or {}).get(lib) or {}
    for res in ("hires", "lowres"):
        if res in (spatial.get("images") or {}):
            f = float((spatial.get("scalefactors") or {}).get(f"tissue_{res}_scalef", 1.0))
            img = np.moveaxis(to_uint8_rgb(spatial["images"][res]), -1, 0)
            images[f"{lib}_{res}_image"] = Image2DModel.parse(
                img, dims=("c", "y", "x"), transformations={"global": Scale([1 / f, 1 / f], axes=("y", "x"))})
            break
    table.obs["region"] = name
    table.obs["region"] = table.obs["region"].astype("category")
    table.obs["instance_id"] = np.arange(table.n_obs)
    table.uns.setdefault("scdl", {})["pixel_frame"] = "coordinate_system"  # global = fullres px
    table = TableModel.parse(table, region=name, region_key="region", instance_key="instance_id",
                             overwrite_metadata=True)
    return sd.SpatialData(images=images, shapes=shapes, tables={table_name: table})


def source_store(adata) -> Path | None:
    """The SpatialData store ``adata`` was read from (None for other samples: Space Ranger,
    ``.h5ad``, Xenium and Visium HD folders)."""
    info = (adata.uns.get("scdl") or {}).get("spatialdata") or {}
    path = info.get("path")
    return Path(path) if path and is_spatialdata_store(path) else None


def write_spatialdata(adata, path: str | Path | None = None, *, overwrite: bool = False,
                      into_source: bool = False) -> Path:
    """Write ``adata`` (and the elements of the store it came from) as a SpatialData store.

    Parameters
    ----------
    path
        The ``.zarr`` store to write. An existing one is replaced only with
        ``overwrite=True``; the input store only with ``overwrite=True`` too.
    into_source
        Save into the store ``adata`` was read from (``path`` may be omitted): its table is
        replaced by ``adata``, every other element is kept.

    The store is written to a temporary sibling folder, read back, and only then swapped
    into place (the old one moved aside, then deleted): a failure at any point leaves
    ``path`` as it was. Readable by ``spatialdata.read_zarr`` and napari-spatialdata.
    """
    src = source_store(adata)
    if into_source:
        if src is None:
            raise DataFormatError(
                "this sample was not read from a SpatialData .zarr store, so there is no store "
                "to save into; choose a new .zarr path")
        if path is not None and Path(path).expanduser().resolve() != src.resolve():
            raise DataFormatError(f"into_source=True saves into {src}, not {path}")
        path, overwrite = src, True
    if path is None:
        raise DataFormatError("give the .zarr path to write (or into_source=True)")
    path = Path(path).expanduser().resolve()
    same = src is not None and src.resolve() == path
    if same and not overwrite:
        raise DataFormatError(f"{path} is the input store; it is never modified without "
                              "overwrite=True (GUI: 'into the store it came from')")
    if path.exists() and not overwrite:
        raise DataFormatError(f"{path} exists; choose another --out or pass overwrite=True")
    if path.exists() and not same and not is_spatialdata_store(path):
        raise DataFormatError(f"{path} exists and is not a SpatialData store; it is not replaced")
    sdata = to_spatialdata(adata)
    path.parent.mkdir(parents=True, exist_ok=True)
    # elements read lazily from the store being replaced are read from it while the copy
    # is written; it is only moved aside once the copy is complete and opens
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".saving", dir=path.parent))
    tmp = work / path.name
    try:
        try:
            sdata.write(tmp, overwrite=True)
            tables = set(_sd().read_zarr(tmp).tables)
        except Exception as err:  # noqa: BLE001 - zarr, ome-zarr, OS errors
            kept = f"{path} is unchanged" if path.exists() else f"nothing was written to {path}"
            raise DataFormatError(f"writing the SpatialData store failed ({type(err).__name__}: "
                                  f"{err}); {kept}") from err
        if not set(sdata.tables) <= tables:
            raise DataFormatError(f"the store written for {path} lacks its table; {path} is unchanged")
        if path.exists():
            old = work / "previous"
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if same:  # the cached object read the files just replaced: follow the new store
        _SDATA[adata.uns["scdl"]["sample_id"]] = _sd().read_zarr(path)
    logger.info("wrote the SpatialData store %s", path)
    return path
