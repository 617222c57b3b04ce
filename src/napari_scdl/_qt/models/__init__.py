"""Panel "Models": run any registered model, cluster an embedding."""

from .widget import ModelsWidget

__all__ = ["ModelsWidget"]
