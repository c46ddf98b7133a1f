"""BCPG-NSA: the credit on a hand-worked batch, its gradient in closed form, and GRPO without steps."""

from __future__ import annotations

import pytest
import torch

from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.objectives.nsa import nsa_advantages

F64 = torch.float64
# two groups' worth of rows, three tokens each; row 1 is a wrong response whose first two tokens are a verified
# step, row 2 a wrong one without, row 3 a right one (verified whole), row 0's last token padding
ADVANTAGES = torch.tensor([[0.8, 0.8, 0.8], [-0.6, -0.6, -0.6], [-1.2, -1.2, -1.2], [0.4, 0.4, 0.4]], dtype=F64)
VERIFIED = torch.tensor([[True, True, False], [True, True, False], [False, False, False], [True, True, True]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], dtype=F64)


@pytest.mark.parametrize("weight, credit", [(1.0, 0.6), (0.5, 0.3), (0.0, 0.0), (-1.0, -0.6)])
def test_credit_replaces_the_penalty_of_verified_tokens_of_negative_responses(weight: float, credit: float) -> None:
    expected = ADVANTAGES.clone()
    expected[1, :2] = credit  # lambda * |-0.6|; lambda = -1 is GRPO's -0.6
    torch.testing.assert_close(nsa_advantages(ADVANTAGES, VERIFIED, weight), expected, rtol=0, atol=1e-15)


def test_per_run_weights_credit_each_run_its_own() -> None:
    weight = torch.tensor([[2.0], [0.5], [9.0], [9.0]], dtype=F64)  # one per row: only row 1 has credited tokens
    credited = nsa_advantages(ADVANTAGES, VERIFIED, weight)
    assert credited[1, :2].tolist() == [0.3, 0.3] and torch.equal(credited[[0, 2, 3]], ADVANTAGES[[0, 2, 3]])


def _batch(verified: torch.Tensor | None) -> PolicyBatch:
    logp = torch.tensor([[-0.2, -1.5, 0.0], [-0.9, -0.1, -0.4], [-2.0, -0.3, -0.7], [-0.05, -3.0, -0.2]], dtype=F64,
                        requires_grad=True)
    return PolicyBatch(log_probs=logp, old_log_probs=logp.detach().clone(), advantages=ADVANTAGES, mask=MASK,
                       run=torch.tensor([0, 1, 0, 1]), num_runs=2, verified_steps=verified)


def test_one_update_per_batch_gives_the_credited_policy_gradient() -> None:
    """At ratio 1 the token-mean gradient is ``-A' / N_r`` per valid token, ``A'`` worked by hand."""
    batch = _batch(VERIFIED)
    loss, metrics = Objective(ObjectiveConfig(policy_loss="nsa"))(batch, Control(nsa_weight=0.5))
    loss.sum().backward()
    credited = ADVANTAGES.clone()
    credited[1, :2] = 0.3
    tokens = torch.tensor([5.0, 6.0], dtype=F64)[batch.run].unsqueeze(-1)  # valid tokens of each run: 2 + 3, 3 + 3
    torch.testing.assert_close(batch.log_probs.grad, -credited * MASK / tokens, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(metrics["actor/nsa_credited_frac"], torch.tensor([0.0, 2 / 6], dtype=F64))


def test_without_steps_the_loss_is_grpo_ppo() -> None:
    """The bandit has no steps (``verified_steps=None``): NSA is the ``vanilla`` loss, at any ratio."""
    batch = _batch(None)
    old = batch.old_log_probs + torch.tensor([[0.3, -0.4, 0.0], [0.25, 0.0, -0.5], [0.0, 0.1, 0.6], [-0.3, 0.0, 0.2]],
                                             dtype=F64)
    off_policy = PolicyBatch(**{**batch.__dict__, "old_log_probs": old})
    control = Control(nsa_weight=2.0)
    nsa, _ = Objective(ObjectiveConfig(policy_loss="nsa"))(off_policy, control)
    vanilla, _ = Objective(ObjectiveConfig(policy_loss="vanilla"))(off_policy, control)
    torch.testing.assert_close(nsa, vanilla, rtol=0, atol=0)


def test_nsa_weight_is_validated_with_its_range() -> None:
    with pytest.raises(ValueError, match="nsa_weight"):
        Control(nsa_weight=-1.5)
