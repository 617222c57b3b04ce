"""A small training loop (the scvi-tools "training plan" without Lightning).

The plan owns the optimiser, the loss weights handed to the module, gradient clipping and
early stopping. A module only has to implement ``loss(batch, **weights) -> dict`` whose
``"loss"`` entry is the scalar to minimise; other entries are logged in the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._base import Progress


@dataclass
class TrainingPlan:
    """Optimiser and stopping rules for one training run."""

    n_epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 5.0
    patience: int | None = None  # epochs without improvement of ``monitor`` before stopping
    min_delta: float = 1e-4
    loss_weights: dict[str, Any] = field(default_factory=dict)
    #: called each epoch with the epoch index, returns extra loss weights (e.g. KL warm-up)
    schedule: Callable[[int], dict[str, Any]] | None = None

    def run(
        self,
        module,
        batches: Callable[[], Iterable[Any]],
        *,
        history: dict[str, list[float]] | None = None,
        label: str = "training",
    ) -> Iterator[Progress]:
        """Train ``module`` for ``n_epochs``; ``batches()`` gives one epoch's batches.

        Yields one :class:`Progress` per epoch; closing the generator cancels.
        """
        import torch

        from ._optim import Adam

        history = history if history is not None else {}
        opt = Adam(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best, stale = float("inf"), 0
        module.train()
        for epoch in range(self.n_epochs):
            weights = dict(self.loss_weights)
            if self.schedule is not None:
                weights.update(self.schedule(epoch))
            sums: dict[str, float] = {}
            n_batches = 0
            for batch in batches():
                opt.zero_grad(set_to_none=True)
                out = module.loss(batch, **weights)
                out["loss"].backward()
                if self.grad_clip:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), self.grad_clip)
                opt.step()
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach() if hasattr(v, "detach") else v)
                n_batches += 1
            means = {k: v / max(n_batches, 1) for k, v in sums.items()}
            for k, v in means.items():
                history.setdefault(k, []).append(v)
            yield Progress(
                epoch + 1, self.n_epochs, f"{label}: epoch {epoch + 1}/{self.n_epochs}", means
            )
            if self.patience is not None:
                if means["loss"] < best - self.min_delta:
                    best, stale = means["loss"], 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        module.eval()
