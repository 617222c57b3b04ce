"""Panel "Spatial domains": find domains with the graph-convolution model."""

from .widget import DomainsWidget

__all__ = ["DomainsWidget"]
