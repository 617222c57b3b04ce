"""npe2 reader contribution: Space Ranger, Visium HD and Xenium folders, SpatialData
stores and ``.h5ad`` files.

napari offers every reader that accepts folders (its builtins too) and, in its dialog,
preselects "napari builtins", which cannot read any of these. :func:`prefer_scdl_reader`
records napari-scdl as napari's reader for folders, ``.zarr`` stores and ``.h5ad`` files
(napari's own reader preference, Preferences > Plugins); it is called on first use (our
reader, widgets and ``napari-scdl view``) and never overrides a choice the user made.
Folders napari-scdl does not understand are handed to napari's builtins, so other folders
(image stacks, OME-Zarr) still open as before.
"""

from __future__ import annotations

import logging

from .io import can_read

logger = logging.getLogger(__name__)

PATTERNS = ("*.h5ad", "*/", "*.zarr/")


def prefer_scdl_reader() -> list[str]:
    """Make napari-scdl napari's reader for folders, ``.zarr`` and ``.h5ad`` (patterns that
    have no preference yet); returns the patterns set."""
    try:
        from napari.settings import get_settings
    except ImportError:  # pragma: no cover - napari is a dependency
        return []
    plugins = get_settings().plugins
    prefs = dict(plugins.extension2reader)
    added = [p for p in PATTERNS if p not in prefs]
    if added:
        prefs.update(dict.fromkeys(added, "napari-scdl"))
        plugins.extension2reader = prefs
        logger.info("napari-scdl is now napari's reader for %s", ", ".join(added))
    return added


def get_reader(path):
    """Return a reader for ``path``: ours, napari's builtins for other folders, or one that
    says why nothing could be read (an empty folder, a text file renamed ``.h5ad``)."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    prefer_scdl_reader()
    from .io import why_not

    if can_read(path) and why_not(path) is None:
        return read_layers
    return _fallback


def read_layers(path):
    """Read ``path`` into tissue image layers and a spots/cells/bins layer (one AnnData)."""
    from .errors import ScdlError
    from .io import read
    from .layers import CELLS_ROLE, adata_to_layers

    if isinstance(path, list):
        path = path[0]
    try:
        layers = adata_to_layers(read(path))
    except ScdlError as err:
        return _refuse(str(err))
    if any((kw.get("metadata") or {}).get("scdl_role") == CELLS_ROLE for _, kw, _ in layers):
        _switch_cells_by_zoom()
    return layers


def _switch_cells_by_zoom() -> None:
    """Cell outlines when zoomed in, markers when zoomed out, in the viewer opening the
    file (napari hands a reader no viewer: the current one is it)."""
    try:
        from napari import current_viewer

        from .zoom_switch import install

        viewer = current_viewer()
        if viewer is not None:
            install(viewer)
    except Exception as err:  # noqa: BLE001 - the layers open regardless
        logger.info("cells stay as outlines and markers (no zoom switch: %s)", err)


def _fallback(path):
    """napari's builtins for what we do not read; our reason when they fail too."""
    from pathlib import Path

    from .io import why_not

    if isinstance(path, list):
        path = path[0]
    reason = why_not(path)
    if Path(path).is_dir() and reason and "empty" not in reason:
        try:
            import npe2

            data = npe2.read([str(path)], plugin_name="napari", stack=False)
            if data:
                return data
        except Exception as err:  # noqa: BLE001 - builtins raise many kinds
            logger.info("napari builtins cannot read %s either (%s)", path, err)
    return _refuse(reason or f"napari-scdl cannot open {path}")


def _refuse(message: str):
    """Show ``message`` (our reason, alone and first) and open nothing."""
    logger.error(message)
    try:
        from napari.utils.notifications import show_error

        show_error(message)
    except ImportError:  # pragma: no cover
        pass
    return [(None,)]
