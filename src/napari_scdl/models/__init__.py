"""Model registry: every model follows :class:`~napari_scdl.models._base.BaseModel`.

Adding a model is one module in this package that decorates its class with
:func:`register_model`, plus its module name in ``_MODEL_MODULES`` below. The dock widget
and the CLI build their forms from the registry, so a new model needs no GUI code.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import ScdlError
from ._base import BaseModel, Param, Progress

__all__ = ["BaseModel", "Param", "Progress", "register_model", "get_model", "list_models"]

#: modules that register models, imported on first registry access
_MODEL_MODULES: list[str] = ["vae", "autoencoder", "stagate", "gnn_impute", "semisup", "domain_gcn", "subclones", "gene_programs", "transfer", "drug_response"]

_REGISTRY: dict[str, type[BaseModel]] = {}
_loaded = False


def register_model(cls: type[BaseModel]) -> type[BaseModel]:
    """Class decorator adding a model to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _MODEL_MODULES:
            import_module(f"{__name__}.{mod}")


def get_model(name: str) -> type[BaseModel]:
    """The registered model class called ``name``."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ScdlError(f"no model named {name!r}; available: {sorted(_REGISTRY)}") from None


def list_models() -> dict[str, type[BaseModel]]:
    """All registered models, by name."""
    _load_all()
    return dict(_REGISTRY)
