"""Panel "Annotate": draw and paint annotations, the category list, the spot inspector,
autosave and import/export."""

from .widget import AnnotationWidget

__all__ = ["AnnotationWidget"]
