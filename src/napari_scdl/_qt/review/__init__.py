"""Panel "Learn & review": predict from annotations, the review queue, explain a category."""

from .widget import ReviewWidget

__all__ = ["ReviewWidget"]
