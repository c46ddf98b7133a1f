"""Values outside the response mask reach neither the loss nor the gradient (NaN and inf included).

verl multiplies by the mask, so a NaN log-prob on padding leaves its loss finite (its
``masked_sum`` selects) but its gradient NaN; entropic selects, so the padded entries of every
``[B, T]`` input can hold anything and the gradient there is exactly 0.
"""

from __future__ import annotations

import pytest
import torch
from objectives_ref import random_batch
from test_objective import ALL_MODIFIERS, ALL_TERMS

from entropic.control import Control
from entropic.objectives import AGG_MODES, POLICY_LOSSES, Objective, ObjectiveConfig, PolicyBatch, agg_loss
from entropic.objectives.batch import TOKEN_FIELDS

CONTROL = Control(entropy_coeff=0.1, kl_loss_coef=0.05, top_entropy_quantile=0.5, pos_weight=0.5,
                  entropic_alpha=0.3, off_policy_mask_threshold=0.5, clip_cov_ratio=0.2, clip_cov_lb=-5.0,
                  kl_cov_ratio=0.2)


def _with_padding(batch: PolicyBatch, fill: float) -> PolicyBatch:
    """The same batch with every ``[B, T]`` value field set to ``fill`` outside the mask (a fresh grad leaf)."""
    padding = batch.mask == 0
    fields = {}
    for name in TOKEN_FIELDS:
        value = getattr(batch, name).detach()
        fields[name] = torch.where(padding, torch.full_like(value, fill), value)
    fields["log_probs"].requires_grad_()
    return PolicyBatch(**fields, mask=batch.mask, run=batch.run, num_runs=batch.num_runs,
                       generators=[torch.Generator().manual_seed(0)])


def _batch(seed: int) -> PolicyBatch:
    batch = random_batch(6, 5, seed, empty_row=True, token_adv=True)
    g = torch.Generator().manual_seed(seed)
    batch.entropy = torch.rand(6, 5, generator=g, dtype=torch.float64) * 2
    return batch


@pytest.mark.parametrize("fill", [float("nan"), float("-inf"), float("inf")], ids=["nan", "-inf", "inf"])
@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("policy_loss", POLICY_LOSSES.names())
def test_padding_values_change_nothing(policy_loss: str, mode: str, fill: float) -> None:
    objective = Objective(ObjectiveConfig(policy_loss=policy_loss, loss_agg_mode=mode,
                                          modifiers=ALL_MODIFIERS, terms=ALL_TERMS))
    clean, dirty = _with_padding(_batch(1), 0.0), _with_padding(_batch(1), fill)
    loss_clean, metrics_clean = objective(clean, CONTROL)
    loss_dirty, metrics_dirty = objective(dirty, CONTROL)
    (grad_clean,) = torch.autograd.grad(loss_clean.sum(), clean.log_probs)
    (grad_dirty,) = torch.autograd.grad(loss_dirty.sum(), dirty.log_probs)
    assert torch.isfinite(loss_clean).all()
    assert torch.equal(loss_dirty, loss_clean)
    assert torch.equal(grad_dirty, grad_clean)
    assert torch.equal(grad_dirty[clean.mask == 0], torch.zeros_like(grad_dirty[clean.mask == 0]))
    for key, value in metrics_clean.items():
        assert torch.equal(metrics_dirty[key], value), key


@pytest.mark.parametrize("fill", [float("nan"), float("-inf")], ids=["nan", "-inf"])
@pytest.mark.parametrize("mode", AGG_MODES)
def test_agg_loss_selects_the_masked_entries(mode: str, fill: float) -> None:
    g = torch.Generator().manual_seed(4)
    values = torch.randn(4, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(4, 6, generator=g) > 0.4).double()
    dirty = torch.where(mask > 0, values, torch.full_like(values, fill)).requires_grad_()
    clean = torch.where(mask > 0, values, torch.zeros_like(values)).requires_grad_()
    out_dirty, out_clean = agg_loss(dirty, mask, mode), agg_loss(clean, mask, mode)
    assert torch.equal(out_dirty, out_clean)
    (grad_dirty,) = torch.autograd.grad(out_dirty.sum(), dirty)
    (grad_clean,) = torch.autograd.grad(out_clean.sum(), clean)
    assert torch.equal(grad_dirty, grad_clean)
    assert (grad_dirty[mask == 0] == 0).all()


def test_a_nan_inside_the_mask_still_shows() -> None:
    # a diverged policy must not be hidden: only padding is selected away
    batch = _with_padding(_batch(2), 0.0)
    logp = batch.log_probs.detach().clone()
    logp[0, 0] = float("nan")
    batch.log_probs = logp.requires_grad_()
    loss, _ = Objective()(batch, Control())
    assert torch.isnan(loss).all()
