"""The task instance and the calibrated initial policy: stated entropy and accuracy, closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from entropic.sims import BanditConfig, BanditTask, SoftmaxBanditBackend
from entropic.sims.prior import policy_summary

TARGETS = [
    dict(),  # 2.5 nats, pass@1 0.1, K = 32, C = 8
    dict(init_entropy=0.5, init_accuracy=0.5),
    dict(init_entropy=3.3, init_accuracy=0.1, difficulty_spread=0.0),
    dict(init_entropy=1.0, init_accuracy=0.02, difficulty_spread=2.0),
    dict(init_entropy=1.2, init_accuracy=0.3, seq_len=3, num_arms=8, num_correct=3),
]


@pytest.mark.parametrize("overrides", TARGETS, ids=[str(t) for t in TARGETS])
def test_initial_policy_meets_target_entropy_and_accuracy(overrides: dict) -> None:
    config = BanditConfig(num_prompts=32, dtype="float64", **overrides)
    backend = SoftmaxBanditBackend(config, num_runs=2)
    entropy, accuracy = policy_summary(backend.policy.logits().detach(), backend.task.correct)
    tol = config.calibration_tol
    assert torch.allclose(entropy, torch.full_like(entropy, config.init_entropy), atol=tol, rtol=0)
    assert torch.allclose(accuracy, torch.full_like(accuracy, config.init_accuracy), atol=tol, rtol=0)
    metrics = backend.evaluate()
    assert torch.allclose(metrics["eval/entropy"], entropy, atol=1e-12, rtol=0)
    assert torch.allclose(metrics["eval/pass@1"], accuracy, atol=1e-12, rtol=0)


def test_float32_backend_meets_targets_to_float32_precision() -> None:
    metrics = SoftmaxBanditBackend(BanditConfig()).evaluate()
    assert abs(float(metrics["eval/entropy"]) - 2.5) < 1e-5
    assert abs(float(metrics["eval/pass@1"]) - 0.1) < 1e-5


def test_uniform_logits_have_entropy_log_k_and_accuracy_c_over_k() -> None:
    task = BanditTask.from_config(BanditConfig(num_prompts=5, num_arms=12, num_correct=3, seq_len=2, init_entropy=2.0))
    entropy, accuracy = policy_summary(torch.zeros(5, 2, 12, dtype=torch.float64), task.correct)
    assert math.isclose(float(entropy), math.log(12), rel_tol=1e-14)
    assert math.isclose(float(accuracy), (3 / 12) ** 2, rel_tol=1e-14)


def test_task_is_a_function_of_the_task_seed() -> None:
    config = BanditConfig(num_prompts=16, num_arms=10, num_correct=4, init_entropy=1.5)
    a, b = BanditTask.from_config(config), BanditTask.from_config(config)
    assert torch.equal(a.correct, b.correct) and torch.equal(a.prior_noise, b.prior_noise)
    assert (a.correct.sum(-1) == 4).all()
    other = BanditTask.from_config(BanditConfig(num_prompts=16, num_arms=10, num_correct=4, init_entropy=1.5,
                                                task_seed=1))
    assert not torch.equal(a.correct, other.correct)
    # training knobs and the parameterisation do not change the task
    adam = BanditTask.from_config(BanditConfig(num_prompts=16, num_arms=10, num_correct=4, init_entropy=1.5,
                                               optimizer="adam", parameterization="features"))
    assert torch.equal(a.correct, adam.correct) and torch.equal(a.difficulty, adam.difficulty)


def test_difficulty_spread_spreads_per_prompt_accuracy() -> None:
    def per_prompt_accuracy(spread: float) -> torch.Tensor:
        backend = SoftmaxBanditBackend(BanditConfig(difficulty_spread=spread, dtype="float64"))
        probs = torch.softmax(backend.policy.logits().detach()[0, :, 0], dim=-1)
        return (probs * backend.task.correct[:, 0]).sum(-1)

    flat, spread = per_prompt_accuracy(0.0), per_prompt_accuracy(2.0)
    assert float(flat.std()) < float(spread.std())
    assert float(spread.min()) < 1e-3  # hard prompts: almost never a correct sample
    assert math.isclose(float(spread.mean()), 0.1, abs_tol=1e-6)


def test_all_runs_start_from_the_same_prior() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(parameterization="low_rank"), num_runs=3)
    logits = backend.policy.logits().detach()
    assert torch.equal(logits[0], logits[2])
    assert torch.allclose(logits[0], backend.prior.logits.float(), atol=1e-6)
