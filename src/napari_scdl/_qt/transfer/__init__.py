"""Panel "Transfer": labels or label proportions from an annotated reference."""

from .widget import TransferWidget

__all__ = ["TransferWidget"]
