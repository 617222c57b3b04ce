"""Run any registered model on an AnnData: the one path the GUI and the CLI share."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from ..models import BaseModel, Progress, get_model

logger = logging.getLogger(__name__)


def run_model_iter(
    adata,
    model: str | BaseModel,
    *,
    key_added: str | None = None,
    device: str = "auto",
    seed: int = 0,
    **params: Any,
) -> Iterator[Progress]:
    """Train ``model`` on ``adata`` and write its results, yielding progress.

    The last item yielded has ``metrics['done'] == 1`` and ``message`` listing the keys
    written. Closing the generator early (Cancel) leaves ``adata`` untouched.
    """
    if isinstance(model, str):
        model = get_model(model)(**params)
    elif params:
        raise TypeError("pass parameters to the model's constructor, not run_model_iter")
    t0 = time.perf_counter()
    yield from model.fit_iter(adata, device=device, seed=seed)
    key = key_added or model.default_key or model.name
    written = model.write(adata, key)
    adata.uns[key]["wall_time_s"] = round(time.perf_counter() - t0, 3)
    msg = f"{model.name}: wrote {', '.join(written)} in {time.perf_counter() - t0:.1f} s"
    logger.info(msg)
    yield Progress(1, 1, msg, {"done": 1.0})


def run_model(
    adata,
    model: str | BaseModel,
    *,
    key_added: str | None = None,
    device: str = "auto",
    seed: int = 0,
    **params: Any,
) -> BaseModel | None:
    """Train ``model`` (a registry name or an instance) on ``adata`` and write its results.

    Returns the trained model (so it can be saved or applied to another slide).
    """
    if isinstance(model, str):
        model = get_model(model)(**params)
        params = {}
    for _ in run_model_iter(adata, model, key_added=key_added, device=device, seed=seed, **params):
        pass
    return model
