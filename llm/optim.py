"""AdamW with linear warm-up and cosine decay: the LLM backend's update."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from entropic.llm.config import HFConfig


def lr_factor(step: int, warmup_steps: int, decay_steps: int, min_lr_ratio: float) -> float:
    """Share of the peak rate at optimizer step ``step`` (0-based): ``(step + 1) / warmup`` during warm-up,
    then ``min + (1 - min) (1 + cos(pi s / decay)) / 2`` for ``s`` steps into the decay, ``min`` after it
    (1 throughout when ``decay_steps`` is 0)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if decay_steps == 0:
        return 1.0
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(params: Iterable[torch.nn.Parameter], config: HFConfig
                   ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``params`` and its schedule, stepped once per optimizer step."""
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(config.adam_beta1, config.adam_beta2),
                                  eps=config.adam_eps, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup_steps, config.decay_steps, config.min_lr_ratio))
    return optimizer, schedule
