"""Outcome rewards of verified responses, with format and length shaping."""

from __future__ import annotations

import torch


def shaped_reward(correct: torch.Tensor, well_formed: torch.Tensor, lengths: torch.Tensor, max_len: int,
                  format_penalty: float, overlong_buffer_len: int, overlong_penalty_factor: float) -> torch.Tensor:
    """Outcome reward ``[B]``: 1 if correct else 0, minus ``format_penalty`` if malformed, plus DAPO's
    overlong shaping (arXiv 2503.14476) ``min(-(L - (L_max - L_buf)) / L_buf * factor, 0)`` when ``L_buf > 0``.

    ``lengths [B]`` count response tokens including ``<eos>``; ``max_len`` is ``L_max``.
    """
    reward = correct.to(lengths.dtype) - format_penalty * (~well_formed).to(lengths.dtype)
    if overlong_buffer_len > 0:
        exceed = lengths - (max_len - overlong_buffer_len)
        reward = reward + (-exceed / overlong_buffer_len * overlong_penalty_factor).clamp(max=0.0)
    return reward
