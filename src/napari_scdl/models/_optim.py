"""Adam, step for step what ``torch.optim.Adam`` computes, without ``torch.optim``.

Every ``torch.optim`` optimiser imports ``torch._dynamo`` the first time it adds a
parameter group or takes a step (their methods are wrapped to keep ``torch.compile`` out).
That import takes 1.2-1.3 s on the 2-core machine: a tenth of a whole ``domains`` run
(issue 18). This class does the same arithmetic, in the same order, as torch's
single-tensor Adam (what it runs for CPU tensors): the parameters it gives are equal to
torch's bit for bit (``tests/test_graph_fast_paths.py``). No amsgrad, no maximise, no
capturable/fused modes: the training plan uses none of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class Adam:
    """Adam with L2 ``weight_decay`` (added to the gradient, as ``torch.optim.Adam``)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # per parameter, as torch keeps them: a parameter without a gradient is not stepped
        self._steps = [0] * len(self.params)
        self._avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is None:
                continue
            exp_avg, exp_avg_sq = self._avg[i], self._avg_sq[i]
            if self.weight_decay != 0:
                grad = grad.add(p, alpha=self.weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            self._steps[i] += 1
            step = float(self._steps[i])
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = self.lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)
