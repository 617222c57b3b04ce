"""Annotations that never get lost: editable, undoable, autosaved label columns per sample.

:class:`AnnotationStore` (GUI-free) holds the annotation columns of one sample; the napari
widgets only call it. :mod:`.io` imports/exports Loupe Browser CSV, QuPath GeoJSON and
``.h5ad``; :mod:`.geometry` finds the spots inside drawn shapes.
"""

from . import geometry, io
from .io import (
    ImportReport,
    export_csv,
    export_geojson,
    export_h5ad,
    import_csv,
    import_geojson,
    import_h5ad,
    import_labels,
    match_labels,
    read_csv_labels,
    read_geojson,
)
from .store import AnnotationEvent, AnnotationStore, spot_indices

__all__ = [
    "AnnotationEvent",
    "AnnotationStore",
    "ImportReport",
    "export_csv",
    "export_geojson",
    "export_h5ad",
    "geometry",
    "import_csv",
    "import_geojson",
    "import_h5ad",
    "import_labels",
    "io",
    "match_labels",
    "read_csv_labels",
    "read_geojson",
    "spot_indices",
]
