"""VAPO's positive-example LM loss (``pos_lm`` term): mu times the NLL of the correct responses."""

from __future__ import annotations

import pytest
import torch
from objectives_ref import batch_of

from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.protocol import Rollout, TokenStats

F64 = torch.float64


def test_pos_lm_is_mu_times_the_token_mean_nll_of_the_correct_responses() -> None:
    # rows 0 and 2 correct, with valid tokens log p = [-1, -2] and [-0.5]: NLL = (1 + 2 + 0.5) / 3 = 7 / 6
    log_probs = torch.tensor([[-1.0, -2.0], [-3.0, -4.0], [-0.5, -9.0]], dtype=F64, requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]], dtype=F64)
    batch = batch_of(log_probs, log_probs.detach(), torch.zeros(3, 2, dtype=F64), mask,
                     correct=torch.tensor([True, False, True]))
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["pos_lm"]))
    loss, metrics = objective(batch, Control(pos_lm_coef=0.3))
    torch.testing.assert_close(metrics["actor/pos_lm_nll"], torch.tensor([7 / 6], dtype=F64))
    torch.testing.assert_close(loss, torch.tensor([0.3 * 7 / 6], dtype=F64))  # zero advantages: no PG loss
    loss.sum().backward()
    expected = -0.3 / 3 * torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]], dtype=F64)
    torch.testing.assert_close(log_probs.grad, expected)


def test_a_run_without_a_correct_response_adds_nothing_and_runs_are_separate() -> None:
    log_probs = torch.tensor([[-1.0], [-2.0], [-3.0], [-4.0]], dtype=F64)
    batch = PolicyBatch(log_probs=log_probs, old_log_probs=log_probs, advantages=torch.zeros(4, 1, dtype=F64),
                        mask=torch.ones(4, 1, dtype=F64), run=torch.tensor([0, 1, 0, 1]), num_runs=2,
                        correct=torch.tensor([True, False, True, False]))
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["pos_lm"]))
    loss, _ = objective(batch, Control(pos_lm_coef=torch.tensor([1.0, 5.0], dtype=F64)))
    torch.testing.assert_close(loss, torch.tensor([2.0, 0.0], dtype=F64))


def test_correct_comes_from_the_verifier_and_is_required() -> None:
    rollout = Rollout(tokens=torch.zeros(2, 1, dtype=torch.long), mask=torch.ones(2, 1), rewards=torch.ones(2),
                      group=torch.zeros(2, dtype=torch.long), old_log_probs=torch.zeros(2, 1),
                      extras={"correct": torch.tensor([0.0, 1.0])})
    stats = TokenStats(log_probs=torch.zeros(2, 1))
    assert PolicyBatch.from_step(rollout, stats, torch.zeros(2, 1)).correct.tolist() == [False, True]
    rollout.extras.clear()
    batch = PolicyBatch.from_step(rollout, stats, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="'pos_lm' needs PolicyBatch.correct"):
        Objective(ObjectiveConfig(policy_loss="vanilla", terms=["pos_lm"]))(batch, Control())


def test_pos_lm_coef_is_validated() -> None:
    with pytest.raises(ValueError, match="pos_lm_coef"):
        Control(pos_lm_coef=-0.1)
