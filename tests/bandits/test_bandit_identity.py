"""A run's trajectory is the same to the bit alone or among many runs (vectorisation never leaks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bandit_steps import GRPO, train

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.group_filter import FilterGroupsConfig
from entropic.loop import Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.sims import BanditConfig, SoftmaxBanditBackend

CASES = {
    "sgd": dict(),
    "adam-clip": dict(optimizer="adam", lr=0.05, max_grad_norm=0.5),
    "exact": dict(mode="exact"),
    "features": dict(parameterization="features", rank=16),
    "low_rank": dict(parameterization="low_rank"),
    "tokens": dict(seq_len=3, num_arms=8, num_correct=4, init_entropy=1.5),
}


def _alone_and_batched(config: BanditConfig, num_runs: int, position: int, steps: int, objective: Objective,
                       control: Control, advantage: AdvantageConfig = GRPO) -> None:
    seeds = torch.arange(num_runs) * 31 + 5
    lr = config.lr * torch.linspace(0.5, 2.0, num_runs, dtype=config.torch_dtype)
    batched = SoftmaxBanditBackend(config, num_runs=num_runs, seeds=seeds, lr=lr)
    alone = SoftmaxBanditBackend(config, num_runs=1, seeds=seeds[position:position + 1],
                                 lr=float(lr[position]))
    batched_losses = train(batched, steps, objective, control, advantage)
    alone_losses = train(alone, steps, objective, control, advantage)
    assert torch.equal(alone_losses[:, 0], batched_losses[:, position])
    for name, param in alone.policy.params.items():
        assert torch.equal(param[0], batched.policy.params[name][position]), name
    for name, value in alone.evaluate().items():
        assert torch.equal(value[0], batched.evaluate()[name][position]), name


@pytest.mark.parametrize("case", list(CASES))
def test_run_alone_equals_run_among_64(case: str) -> None:
    objective = Objective(ObjectiveConfig(policy_loss="vanilla"))
    _alone_and_batched(BanditConfig(**CASES[case]), num_runs=64, position=37, steps=20, objective=objective,
                       control=Control())


def test_run_alone_equals_run_among_64_with_entropy_and_kl_terms() -> None:
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["entropy", "kl"], modifiers=["top_entropy"]))
    control = Control(entropy_coeff=0.01, kl_loss_coef=0.01, top_entropy_quantile=0.5)
    _alone_and_batched(BanditConfig(seq_len=2, num_arms=8, num_correct=4, init_entropy=1.5), num_runs=64,
                       position=5, steps=10, objective=objective, control=control)


METHODS = {  # the issue-15 methods: SEED-GRPO's per-group semantic entropy, STEER's per-run k
    "seed_grpo": (ObjectiveConfig(policy_loss="vanilla"), AdvantageConfig(adv_estimator="seed_grpo")),
    "seed_grpo_focal": (ObjectiveConfig(policy_loss="vanilla"),
                        AdvantageConfig(adv_estimator="seed_grpo", seed_scaling="focal", seed_alpha=0.7)),
    "steer": (ObjectiveConfig(policy_loss="vanilla", modifiers=["steer"]), GRPO),
}


@pytest.mark.parametrize("method", list(METHODS))
def test_run_alone_equals_run_among_64_with_each_method(method: str) -> None:
    objective, advantage = METHODS[method]
    _alone_and_batched(BanditConfig(seq_len=2, num_arms=8, num_correct=4, init_entropy=1.5), num_runs=64,
                       position=5, steps=10, objective=Objective(objective), control=Control(), advantage=advantage)


GUIDED = {  # issue-15 methods with a backend field or knobs: LUFFY's oracle demonstrations, PAR's positive weight
    "luffy": (dict(off_policy_share=0.25), ObjectiveConfig(policy_loss="luffy"), Control(off_policy_gamma=0.2)),
    "par": (dict(), ObjectiveConfig(policy_loss="vanilla", modifiers=["sample_weight"]), Control(pos_weight=0.5)),
}


@pytest.mark.parametrize("method", list(GUIDED))
def test_run_alone_equals_run_among_64_with_demonstrations_and_reweighting(method: str) -> None:
    fields, objective, control = GUIDED[method]
    _alone_and_batched(BanditConfig(seq_len=2, num_arms=8, num_correct=4, init_entropy=1.5, **fields), num_runs=64,
                       position=5, steps=10, objective=Objective(objective), control=control)


def test_run_alone_equals_run_among_1000() -> None:
    _alone_and_batched(BanditConfig(), num_runs=1000, position=613, steps=10,
                       objective=Objective(ObjectiveConfig(policy_loss="vanilla")), control=Control())


FILTERS = {  # dynamic sampling through the loop: per-run redraws, kept groups and fillers, mini-batches after it
    "dapo_adam_mini_batches": (dict(optimizer="adam", lr=0.3),
                               FilterGroupsConfig(enable=True, metric="acc", max_num_gen_batches=3),
                               dict(ppo_mini_batch_size=3, ppo_epochs=2)),
    "minirl_range_sgd": (dict(), FilterGroupsConfig(enable=True, rule="range", metric="acc", low=0.25, high=0.5,
                                                    max_num_gen_batches=4), dict()),
}


def _trained(config: BanditConfig, seeds: torch.Tensor, lr: torch.Tensor | float, trainer: TrainerConfig,
             directory: Path) -> tuple[SoftmaxBanditBackend, list[dict[str, torch.Tensor]]]:
    backend = SoftmaxBanditBackend(config, num_runs=len(seeds), seeds=seeds, lr=lr)
    loop = Trainer(backend, Objective(ObjectiveConfig(policy_loss="vanilla")), GRPO, Control(), None, trainer,
                   directory, seeds.tolist())
    return backend, [loop.train_step() for _ in range(trainer.steps)]


@pytest.mark.parametrize("case", list(FILTERS))
def test_run_alone_equals_run_among_16_with_dynamic_sampling(case: str, tmp_path: Path) -> None:
    backend_fields, filter_groups, loop_fields = FILTERS[case]
    config = BanditConfig(num_prompts=8, group_size=4, **backend_fields)
    trainer = TrainerConfig(steps=15, eval_every=0, checkpoint_every=0, tensorboard=False,
                            filter_groups=filter_groups, **loop_fields)
    seeds, position = torch.arange(16) * 31 + 5, 11
    lr = config.lr * torch.linspace(0.5, 2.0, 16, dtype=config.torch_dtype)
    batched, batched_metrics = _trained(config, seeds, lr, trainer, tmp_path / "batched")
    alone, alone_metrics = _trained(config, seeds[position:position + 1], float(lr[position]), trainer,
                                    tmp_path / "alone")
    for name, param in alone.policy.params.items():
        assert torch.equal(param[0], batched.policy.params[name][position]), name
    for step, (mine, ours) in enumerate(zip(alone_metrics, batched_metrics, strict=True)):
        assert all(torch.equal(value[0], ours[name][position]) for name, value in mine.items()), step
    # the batch did need different numbers of draws per run, and some runs ran short
    assert any(len(set(m["sampling/draws"].tolist())) > 1 for m in batched_metrics)
    assert any(bool((m["sampling/shortfall"] > 0).any()) for m in batched_metrics)
