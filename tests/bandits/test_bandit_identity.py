"""A run's trajectory is the same to the bit alone or among many runs (vectorisation never leaks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bandit_steps import GRPO, train

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.curriculum import CurriculumConfig
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
    "nsa": (dict(), ObjectiveConfig(policy_loss="nsa"), Control(nsa_weight=0.5)),  # no steps: GRPO
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


def test_run_alone_equals_run_among_16_with_vapo(tmp_path: Path) -> None:
    # VAPO: each run's critic table, its pretraining, GAE over its values and the NLL of its correct responses
    config = BanditConfig(num_prompts=8, group_size=4, seq_len=2, num_arms=8, num_correct=4, init_entropy=1.5,
                          optimizer="adam", lr=0.1, critic=True, critic_lr=0.3, cliprange_value=0.2)
    trainer = TrainerConfig(steps=5, eval_every=0, checkpoint_every=0, tensorboard=False, ppo_epochs=2,
                            critic_pretrain_steps=2)
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["pos_lm"]))
    advantage = AdvantageConfig(adv_estimator="gae", lam_alpha=1.0, lam_critic=1.0)
    seeds, position = torch.arange(16) * 31 + 5, 11

    def trained(runs: torch.Tensor, directory: Path) -> tuple[SoftmaxBanditBackend, list[dict[str, torch.Tensor]]]:
        backend = SoftmaxBanditBackend(config, num_runs=len(runs), seeds=runs)
        loop = Trainer(backend, objective, advantage, Control(pos_lm_coef=0.3), None, trainer, directory,
                       runs.tolist())
        return backend, [loop.train_step() for _ in range(trainer.steps)]

    batched, batched_metrics = trained(seeds, tmp_path / "batched")
    alone, alone_metrics = trained(seeds[position:position + 1], tmp_path / "alone")
    assert torch.equal(alone.critic.table[0], batched.critic.table[position])
    for name, param in alone.policy.params.items():
        assert torch.equal(param[0], batched.policy.params[name][position]), name
    for step, (mine, ours) in enumerate(zip(alone_metrics, batched_metrics, strict=True)):
        assert all(torch.equal(value[0], ours[name][position]) for name, value in mine.items()), step
    assert "critic/pretrain_value_loss" in batched_metrics[0] and "critic/value_loss" in batched_metrics[-1]


class _Record:
    """A trainer callback keeping every step's metrics."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, torch.Tensor]] = []

    def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        self.metrics.append(metrics)


def test_run_alone_equals_run_among_16_with_the_sent_curriculum_and_token_term(tmp_path: Path) -> None:
    # SENT: each run's own semantic-entropy record, order and stage buckets; the token term on a second epoch
    config = BanditConfig(num_prompts=8, group_size=4, num_correct=2)
    trainer = TrainerConfig(steps=12, eval_every=0, checkpoint_every=0, tensorboard=False, ppo_epochs=2,
                            curriculum=CurriculumConfig(enable=True, refresh_every=2, stages=2, stage_steps=6))
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["sent_kl"]))
    seeds, position = torch.arange(16) * 31 + 5, 9
    lr = config.lr * torch.linspace(0.5, 2.0, 16, dtype=config.torch_dtype)
    runs = {}
    for name, index in (("batched", slice(None)), ("alone", slice(position, position + 1))):
        backend = SoftmaxBanditBackend(config, num_runs=len(seeds[index]), seeds=seeds[index],
                                       lr=lr[index] if name == "batched" else float(lr[position]))
        record = _Record()
        loop = Trainer(backend, objective, GRPO, Control(ppo_kl_coef=0.5, kl_cov_ratio=0.25), None, trainer,
                       tmp_path / name, seeds[index].tolist())
        loop.run([record])
        runs[name] = (backend, record.metrics, loop.curriculum)
    (alone, alone_metrics, alone_order), (batched, batched_metrics, batched_order) = runs["alone"], runs["batched"]
    for name, param in alone.policy.params.items():
        assert torch.equal(param[0], batched.policy.params[name][position]), name
    for step, (mine, ours) in enumerate(zip(alone_metrics, batched_metrics, strict=True)):
        assert all(torch.equal(value[0], ours[name][position]) for name, value in mine.items()), step
    assert torch.equal(alone_order.order()[0], batched_order.order()[position])
    assert len({tuple(row) for row in batched_order.order()[:, :4].tolist()}) > 1  # the runs' orders differ
