"""Panel "Genes & markers": paint genes on the tissue, marker tables, figures."""

from .widget import ExpressionWidget

__all__ = ["ExpressionWidget"]
