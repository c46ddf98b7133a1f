"""The vanilla loss's one-multiply backward against autograd through the composed torch ops."""

from __future__ import annotations

import pytest
import torch

from entropic.control import Control
from entropic.objectives import PolicyBatch
from entropic.objectives.ppo import LOG_RATIO_CLAMP, vanilla_policy_loss


def composed_token_loss(log_probs: torch.Tensor, old: torch.Tensor, A: torch.Tensor, low: float, high: float,
                        c: float) -> torch.Tensor:
    """verl's vanilla token loss written as plain torch ops (autograd supplies the gradient)."""
    ratio = torch.exp(torch.clamp(log_probs - old, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    loss_clip = torch.maximum(-A * ratio, -A * torch.clamp(ratio, 1.0 - low, 1.0 + high))
    return torch.where(A < 0, torch.minimum(-A * c, loss_clip), loss_clip)


def edge_case_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ratios at 1, on both clip bounds, inside and outside them, past the log-ratio clamp, and dual-clip ties."""
    gen = torch.Generator().manual_seed(0)
    old = torch.randn(8, 6, dtype=torch.float64, generator=gen)
    shift = torch.tensor([0.0, 0.8, 1.2, 0.5, 1.5, 3.0, 1e-12, 4.0], dtype=torch.float64).log()  # ratios
    delta = shift.unsqueeze(-1).expand(8, 6).clone()
    delta[0, 0], delta[1, 0] = 25.0, -25.0  # beyond the log-ratio clamp
    A = torch.tensor([1.0, -1.0, 0.0, 2.0, -0.5, -3.0], dtype=torch.float64).expand(8, 6).clone()
    return old + delta, old, A


@pytest.mark.parametrize(("low", "high", "c"), [(0.2, 0.2, 3.0), (0.2, 0.28, 3.0), (0.2, 0.28, 1.5)])
def test_gradient_matches_autograd_of_the_composed_ops(low: float, high: float, c: float) -> None:
    log_probs, old, A = edge_case_batch()
    mask = torch.ones_like(A)
    reference = log_probs.clone().requires_grad_(True)
    fused = log_probs.clone().requires_grad_(True)
    weights = torch.rand(A.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = composed_token_loss(reference, old, A, low, high, c)
    (expected * weights).sum().backward()
    batch = PolicyBatch(log_probs=fused, old_log_probs=old, advantages=A, mask=mask,
                        run=torch.zeros(8, dtype=torch.long), num_runs=1)
    control = Control(clip_ratio_low=low, clip_ratio_high=high, clip_ratio_c=c)
    token_loss = vanilla_policy_loss(batch, control).token_loss
    (token_loss * weights).sum().backward()
    assert torch.equal(token_loss.detach(), expected.detach())
    # where the dual bound equals the clipped loss exactly, autograd passes half: the fused loss all of it
    ratio = torch.exp(torch.clamp(log_probs - old, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    loss_clip = torch.maximum(-A * ratio, -A * torch.clamp(ratio, 1.0 - low, 1.0 + high))
    tie = (A < 0) & (loss_clip == -A * c)
    assert torch.allclose(fused.grad[~tie], reference.grad[~tie], rtol=1e-12, atol=0.0)
    assert torch.allclose(fused.grad[tie], 2 * reference.grad[tie], rtol=1e-12, atol=0.0)
    assert (reference.grad == 0).any() and (reference.grad != 0).any()  # both clipped and live tokens occur
