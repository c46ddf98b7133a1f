"""Optimisers vectorised over R independent runs, each with its own learning rate.

Every parameter has the run as its first dimension and every operation is elementwise in that
dimension, so a run's update depends only on its own gradient and learning rate. Updates are
written as separate multiplications and additions (no fused ``addcmul``/``addcdiv``/``lerp``,
whose vectorised and scalar paths may round differently), which keeps each element's arithmetic
the same whatever the tensor's size, hence a run's trajectory the same alone or batched.

Entropy law and the optimiser
-----------------------------
With ``sgd`` on a tabular policy the logit step is the policy-gradient step itself,
``dz = -lr * grad``, so the first-order entropy change is the PG form of the covariance law
(The Entropy Mechanism, arXiv 2505.22617), ``-lr Cov(log pi, pi A)`` up to the loss's
normalisation. ``adam`` rescales every coordinate by ``1 / (sqrt(v_hat) + eps)`` (its first step
is ``-lr * sign(grad)``), so its logit step is neither the PG step ``pi A`` nor the NPG step
``A``: only the general law ``dH ~ -Cov(log pi, dz)`` with Adam's realised ``dz`` holds, and
neither closed form does.
"""

from __future__ import annotations

from typing import Any

import torch

from entropic.sims.config import BanditConfig

CLIP_EPS = 1e-6
"""torch ``clip_grad_norm_``'s guard: ``coef = max_norm / (norm + 1e-6)``, at most 1."""


def _per_run(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-run value ``[R]`` viewed to broadcast against ``like [R, ...]``."""
    return value.view(-1, *([1] * (like.dim() - 1)))


def per_run_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm ``[R]`` of each run's gradient over all parameters ``[R, ...]``.

    Squares are summed one trailing dimension at a time, so no reduction ever collapses a
    run's whole block into one output (which torch may split across threads for large blocks).
    """
    total = None
    for grad in grads:
        squares = grad * grad
        while squares.dim() > 1:
            squares = squares.sum(-1)
        total = squares if total is None else total + squares
    return total.sqrt()


def clip_per_run(grads: list[torch.Tensor], max_norm: float | None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Scale each run's gradient to norm at most ``max_norm``; returns the gradients and the norms ``[R]``.

    ``None`` leaves the gradients unchanged; the norms are always those before clipping.
    """
    norm = per_run_norm(grads)
    if max_norm is None:
        return grads, norm
    coef = (max_norm / (norm + CLIP_EPS)).clamp(max=1.0)
    return [grad * _per_run(coef, grad) for grad in grads], norm


def backward_per_run(loss: torch.Tensor, num_runs: int) -> None:
    """Back-propagate the per-run loss ``[R]``, adding to the gradients (the simulators' ``Backend.backward``).

    Summing the runs' losses gives each run the gradient of its own loss: no parameter is shared.
    """
    if tuple(loss.shape) != (num_runs,):
        raise ValueError(f"backward needs one loss per run, shape [{num_runs}], got {list(loss.shape)}")
    if loss.requires_grad:
        loss.sum().backward()


def step_per_run(params: list[torch.Tensor], optimizer: SGD | Adam, lr: torch.Tensor,
                 max_grad_norm: float | None) -> torch.Tensor:
    """Clip each run's accumulated gradient, step each run's optimiser, clear the gradients.

    The shared body of the simulators' ``Backend.step``; returns each run's gradient norm ``[R]``
    before clipping.
    """
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    grads, norm = clip_per_run(grads, max_grad_norm)
    optimizer.step(params, grads, lr)
    for param in params:
        param.grad = None
    return norm.detach()


class SGD:
    """Plain gradient descent, ``p <- p - lr_r * g``."""

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        """Update ``params`` in place from ``grads`` with per-run learning rates ``lr [R]``."""
        with torch.no_grad():
            for param, grad in zip(params, grads, strict=True):
                param.sub_(_per_run(lr, grad) * grad)

    def reset(self) -> None:
        """Nothing to restart: plain gradient descent has no state."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


class Adam:
    """torch.optim.Adam's update (no weight decay, no amsgrad), per run.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``p <- p - (lr_r / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    Parameters
    ----------
    params : list[FloatTensor [R, ...]]
        The parameters (moments are allocated like them).
    beta1, beta2, eps : float
        Adam's constants.
    """

    def __init__(self, params: list[torch.Tensor], beta1: float, beta2: float, eps: float) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0
        self.m = [torch.zeros_like(p, requires_grad=False) for p in params]
        self.v = [torch.zeros_like(p, requires_grad=False) for p in params]

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        """Update ``params`` in place from ``grads`` with per-run learning rates ``lr [R]``."""
        self.t += 1
        correction1 = 1.0 - self.beta1 ** self.t
        correction2_sqrt = (1.0 - self.beta2 ** self.t) ** 0.5
        with torch.no_grad():
            for param, grad, m, v in zip(params, grads, self.m, self.v, strict=True):
                m.mul_(self.beta1).add_(grad * (1.0 - self.beta1))
                v.mul_(self.beta2).add_(grad * grad * (1.0 - self.beta2))
                denom = v.sqrt() / correction2_sqrt + self.eps
                step_size = _per_run(lr / correction1, param)
                param.sub_(step_size * (m / denom))

    def reset(self) -> None:
        """Restart from a fresh state: zero moments, step count 0 (the next step is a first step again)."""
        self.t = 0
        for moment in self.m + self.v:
            moment.zero_()

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "m": [m.clone() for m in self.m], "v": [v.clone() for v in self.v]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t = int(state["t"])
        for mine, theirs in zip(self.m + self.v, state["m"] + state["v"], strict=True):
            mine.copy_(theirs)


def make_optimizer(config: BanditConfig, params: list[torch.Tensor]) -> SGD | Adam:
    """The optimiser named by ``config.optimizer``."""
    if config.optimizer == "adam":
        return Adam(params, config.adam_beta1, config.adam_beta2, config.adam_eps)
    return SGD()
