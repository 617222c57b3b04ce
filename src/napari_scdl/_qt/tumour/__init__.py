"""Panel "Tumour": subclones inside a region and gene programs per group."""

from .widget import TumourWidget

__all__ = ["TumourWidget"]
