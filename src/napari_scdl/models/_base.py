"""The one model protocol every napari-scdl model follows (after scvi-tools).

A model is three separate pieces: a pure ``torch.nn.Module`` that sees only tensors, a
:class:`~napari_scdl.models._train.TrainingPlan` that owns optimiser and stopping, and a
thin :class:`BaseModel` subclass that does the AnnData glue:

* ``setup(adata)`` validates (every problem in one :class:`ModelSetupError`) and prepares
  tensors; it never mutates ``adata``.
* ``fit_iter(adata)`` trains and yields a :class:`Progress` per epoch; closing the
  generator (the GUI's Cancel) stops it at the next epoch. ``fit`` drains it.
* getters (``get_latent``, ``get_labels``, ``get_confidence``, ``get_imputed``) return
  arrays; ``write(adata, key_added)`` stores them with :func:`write_result`.
* ``save(path)`` / ``load(path)`` keep weights, params, gene list and versions.

Parameters are declared once as :class:`Param` entries; the GUI form and the CLI's
``--param key=value`` are both generated from them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._settings import blas_threads, resolve_device, torch_threads, versions
from ..errors import ModelSetupError, ScdlError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Param:
    """One user-settable model parameter (drives the GUI form and the CLI)."""

    name: str
    default: Any
    help: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    gui: bool = True  # shown in the dock widget form

    @property
    def type(self) -> type:
        return type(self.default) if self.default is not None else str

    def coerce(self, value: Any) -> Any:
        """Convert a CLI string (or any value) to this parameter's type and check it."""
        if value is None:
            return None
        if self.default is None and isinstance(value, str) and value.strip().lower() in (
            "none", "null", ""
        ):
            return None
        if isinstance(value, str) and self.type is not str:
            low = value.strip().lower()
            if self.type is bool:
                if low not in ("1", "0", "true", "false", "yes", "no"):
                    raise ScdlError(f"parameter {self.name}: expected true/false, got {value!r}")
                value = low in ("1", "true", "yes")
            elif low in ("none", "null", "") and self.default is None:
                return None
            else:
                try:
                    value = self.type(value)
                except ValueError as err:
                    raise ScdlError(
                        f"parameter {self.name}: expected {self.type.__name__}, got {value!r}"
                    ) from err
        if self.choices is not None and value not in self.choices:
            raise ScdlError(f"parameter {self.name}: {value!r} is not one of {list(self.choices)}")
        if self.min is not None and value < self.min:
            raise ScdlError(f"parameter {self.name}: {value!r} is below the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise ScdlError(f"parameter {self.name}: {value!r} is above the maximum {self.max}")
        return value


@dataclass
class Progress:
    """What ``fit_iter`` yields: one step of long work."""

    step: int
    total: int
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


class BaseModel:
    """Base of every registered model. Subclasses set the class attributes and override
    ``setup``, ``_fit_iter`` and the getters they support."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: keys written by ``write``; ``{key}`` is replaced by ``key_added``
    writes: ClassVar[tuple[str, ...]] = ()
    default_key: ClassVar[str] = ""
    spatial: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ScdlError(
                f"{self.name}: unknown parameter(s) {unknown}; known: {sorted(known)}"
            )
        self.hparams: dict[str, Any] = {
            name: p.coerce(params.get(name, p.default)) for name, p in known.items()
        }
        self.history: dict[str, list[float]] = {}
        self.var_names: list[str] | None = None
        self.module = None
        self.device: str = "cpu"
        self.seed: int = 0
        self.is_trained = False
        #: what the user should know about this run (fallbacks taken, conversions made):
        #: logged, written to ``uns[key]['warnings']`` and shown in the GUI
        self.warnings: list[str] = []
        #: how the input was prepared (gene selection, value kind), in ``params``
        self.preprocessing: dict[str, Any] = {}

    # -- protocol ---------------------------------------------------------------------
    def setup(self, adata) -> None:
        """Validate ``adata`` and prepare inputs. Raise one ModelSetupError listing all
        problems. Must not mutate ``adata``."""
        raise NotImplementedError

    def setup_iter(self, adata) -> Iterator[Progress]:
        """``setup`` in steps, yielding a Progress between them so that Cancel takes effect
        during a long preparation (override with the model's steps; default: one step)."""
        self.setup(adata)
        yield from ()

    def _fit_iter(self) -> Iterator[Progress]:
        """Train on what ``setup`` prepared; yield a Progress per epoch."""
        raise NotImplementedError

    def fit_iter(
        self, adata, *, device: str = "auto", seed: int = 0
    ) -> Iterator[Progress]:
        """Set up on ``adata`` and train, yielding progress each epoch (close to cancel)."""
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.warnings, self.preprocessing = [], {}
        with torch_threads(adata.n_obs) as n_threads, blas_threads(adata.n_obs) as n_blas:
            self.n_threads, self.n_blas_threads = n_threads, n_blas
            yield from self.setup_iter(adata)
            yield from self._fit_iter()
        self.is_trained = True

    def fit(
        self,
        adata,
        *,
        device: str = "auto",
        seed: int = 0,
        progress: Callable[[Progress], None] | None = None,
    ) -> BaseModel:
        """Train to the end (drains :meth:`fit_iter`)."""
        for p in self.fit_iter(adata, device=device, seed=seed):
            if progress is not None:
                progress(p)
        return self

    # -- getters (override what the model produces) -----------------------------------
    # By default each getter returns what the model stored in ``_latent``, ``_labels``,
    # ``_confidence`` or ``_imputed`` (None when it produces no such output).
    def get_latent(self) -> np.ndarray | None:
        return getattr(self, "_latent", None)

    def get_labels(self) -> np.ndarray | None:
        return getattr(self, "_labels", None)

    def get_confidence(self) -> np.ndarray | None:
        return getattr(self, "_confidence", None)

    def get_imputed(self) -> np.ndarray | None:
        return getattr(self, "_imputed", None)

    def warn(self, message: str) -> None:
        """Note something the user should know about this run (logged and kept)."""
        if message not in self.warnings:
            self.warnings.append(message)
            logging.getLogger(type(self).__module__).warning("%s: %s", self.name, message)

    def prepare_expression(self, adata, n_top_genes: int, *, expr=None):
        """Counts (or pseudo-counts) and the genes to use, for any slide that opens:
        notes of :func:`~napari_scdl.preprocessing.expression_input` and
        :func:`~napari_scdl.preprocessing.select_genes` become warnings, and what was done
        is recorded in ``params``. ``expr``: an :class:`ExpressionInput` already made.
        Returns ``(X, mask)``."""
        from ..preprocessing import expression_input, select_genes

        expr = expr if expr is not None else expression_input(adata)
        sel = select_genes(adata, n_top_genes, expr=expr)
        for note in expr.notes + sel.notes:
            self.warn(note)
        self.preprocessing = {
            "input_values": expr.kind,
            "input_source": expr.source,
            "gene_selection": sel.record(),
        }
        return expr.X, sel.mask

    def extra_uns(self) -> dict[str, Any]:
        """Model-specific results stored beside params in ``uns[key]``."""
        return {}

    # -- applying a trained model to another sample --------------------------------------
    def transform(self, adata) -> BaseModel:
        """Apply the trained (or loaded) model to ``adata`` without training; afterwards the
        getters and ``write(adata, key)`` give the results for ``adata``. ``adata`` must
        have the model's genes."""
        self._require_trained()
        self.check_genes(adata)
        self.warnings = []
        self.setup(adata)
        self._infer()
        return self

    def _infer(self) -> None:
        """Compute the getters' outputs on what ``setup`` prepared, with the trained module
        (override to support :meth:`transform`)."""
        raise ScdlError(f"{self.name} cannot be applied to another sample; train it there")

    def write(self, adata, key_added: str | None = None) -> list[str]:
        """Write this model's results into ``adata`` (see :func:`write_result`)."""
        from ._results import write_result

        self._require_trained()
        return write_result(
            adata,
            key_added or self.default_key or self.name,
            labels=self.get_labels(),
            confidence=self.get_confidence(),
            embedding=self.get_latent(),
            imputed=self.get_imputed(),
            var_names=self.var_names,
            info=self.provenance() | self.extra_uns(),
        )

    def provenance(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "params": dict(self.hparams)
            | ({"preprocessing": self.preprocessing} if self.preprocessing else {}),
            "warnings": list(self.warnings),
            "seed": self.seed,
            "device": self.device,
            "versions": versions(),
            "history": {k: list(map(float, v)) for k, v in self.history.items()},
        }

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise ScdlError(f"{self.name}: the model is not trained yet; call fit() first")

    # -- persistence --------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        """Whatever besides weights is needed to rebuild the module (override)."""
        return {}

    def _restore_module(self, state: dict[str, Any]) -> None:
        """Rebuild ``self.module`` from ``_module_state()`` output (override)."""
        raise NotImplementedError(f"{self.name} does not support load()")

    def save(self, path: str | Path) -> Path:
        """Save weights, params, gene list and versions to one ``.pt`` file."""
        import torch

        self._require_trained()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": "napari-scdl-model",
            "format_version": 1,
            "model": self.name,
            "params": self.hparams,
            "var_names": list(self.var_names or []),
            "versions": versions(),
            "seed": self.seed,
            "history": self.history,
            "module_state": self._module_state(),
            "state_dict": {k: v.cpu() for k, v in self.module.state_dict().items()},
        }
        torch.save(payload, path)
        logger.info("saved %s model to %s", self.name, path)
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> BaseModel:
        """Load a model saved with :meth:`save` (the class is looked up in the registry)."""
        import torch

        from . import get_model

        path = Path(path)
        if not path.exists():
            raise ScdlError(f"model file {path} not found")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unpickling failure is a format problem
            raise ScdlError(f"{path} is not a napari-scdl model file ({err})") from err
        if not isinstance(payload, dict) or payload.get("format") != "napari-scdl-model":
            raise ScdlError(f"{path} is not a napari-scdl model file")
        model_cls = get_model(payload["model"])
        if cls is not BaseModel and not issubclass(model_cls, cls):
            raise ScdlError(f"{path} holds a {payload['model']} model, not {cls.name}")
        model = model_cls(**payload["params"])
        model.var_names = payload["var_names"]
        model.seed = payload.get("seed", 0)
        model.history = payload.get("history", {})
        model.device = resolve_device(device)
        model._restore_module(payload["module_state"])
        model.module.load_state_dict(payload["state_dict"])
        model.module.to(model.device)
        model.is_trained = True
        return model

    def check_genes(self, adata) -> None:
        """Raise unless ``adata`` has every gene the model was trained on."""
        missing = [g for g in (self.var_names or []) if g not in adata.var_names]
        if missing:
            raise ModelSetupError(
                f"{self.name}: {len(missing)} of the model's {len(self.var_names)} genes are "
                f"missing from this sample (e.g. {missing[:5]}); apply it to a slide with the same genes"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({args})"
