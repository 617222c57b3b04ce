"""Panel "Compare results": clusterings side by side, agreement, disagreement map."""

from .widget import CompareWidget

__all__ = ["CompareWidget"]
