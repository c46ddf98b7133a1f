"""Positive-Advantage Reweighting: its preset's loss and gradient on a hand-made batch."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch

PRESET = OmegaConf.to_container(OmegaConf.load(Path(__file__).resolve().parents[2] / "configs" / "method" / "par.yaml"))
F64 = torch.float64


def test_the_preset_is_grpo_with_positive_advantage_tokens_weighted_lambda() -> None:
    assert PRESET["objective"]["modifiers"] == ["sample_weight"]
    assert PRESET["control"] == {"pos_weight": 0.5, "neg_weight": 1.0}
    assert AdvantageConfig(**PRESET["advantage"]).adv_estimator == "grpo"


def test_hand_made_batch_loss_and_gradient() -> None:
    # on policy (ratio 1): the token loss is -A, times lambda = 0.5 where A > 0; the token mean divides by 5
    logp = torch.log(torch.tensor([[0.5, 0.25], [0.8, 0.1], [0.3, 0.6]], dtype=F64)).requires_grad_()
    advantages = torch.tensor([[2.0, 2.0], [-1.0, -1.0], [0.0, 0.0]], dtype=F64)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=F64)
    batch = PolicyBatch(log_probs=logp, old_log_probs=logp.detach(), advantages=advantages, mask=mask,
                        run=torch.zeros(3, dtype=torch.long))
    objective = Objective(ObjectiveConfig(**PRESET["objective"]))
    loss, _ = objective(batch, Control(**PRESET["control"]))
    # positives: 2 tokens x (-2 x 0.5); negative: 1 token x (+1 x 1); zeros: 0 -> (-2 + 1) / 5
    torch.testing.assert_close(loss, torch.tensor([-0.2], dtype=F64), rtol=0, atol=1e-15)
    loss.sum().backward()
    expected = torch.tensor([[-0.2, -0.2], [0.2, 0.0], [0.0, 0.0]], dtype=F64)  # -A w / 5
    torch.testing.assert_close(logp.grad, expected, rtol=0, atol=1e-15)
    # lambda = 1 is plain GRPO: the positive tokens' gradient doubles, the negative one's is unchanged
    logp.grad = None
    grpo, _ = objective(batch, Control(pos_weight=1.0, neg_weight=1.0))
    grpo.sum().backward()
    torch.testing.assert_close(logp.grad, expected * torch.tensor([[2.0], [1.0], [1.0]], dtype=F64))
