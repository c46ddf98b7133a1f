"""A run's trajectory is the same to the bit alone or among many runs (vectorisation never leaks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from toy_lm_steps import GRPO, train

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.curriculum import CurriculumConfig
from entropic.group_filter import FilterGroupsConfig
from entropic.loop import Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.sims.toy_lm import ToyLMBackend, ToyLMConfig

CASES = {
    "adam-clip": dict(),
    "sgd": dict(optimizer="sgd", lr=0.05, max_grad_norm=None),
    "temperature": dict(temperature=0.7),
}


def _alone_and_batched(config: ToyLMConfig, num_runs: int, position: int, steps: int, objective: Objective,
                       control: Control, advantage: AdvantageConfig = GRPO) -> None:
    seeds = torch.arange(num_runs) * 31 + 5
    lr = config.lr * torch.linspace(0.5, 2.0, num_runs)
    batched = ToyLMBackend(config, num_runs=num_runs, seeds=seeds, lr=lr)
    alone = ToyLMBackend(config, num_runs=1, seeds=seeds[position:position + 1], lr=float(lr[position]))
    batched_losses = train(batched, steps, objective, control, advantage)
    alone_losses = train(alone, steps, objective, control, advantage)
    assert torch.equal(alone_losses[:, 0], batched_losses[:, position])
    for name, param in alone.params.items():
        assert torch.equal(param[0], batched.params[name][position]), name
    alone_eval, batched_eval = alone.evaluate(), batched.evaluate()
    for name, value in alone_eval.items():
        assert torch.equal(value[0], batched_eval[name][position]), name


@pytest.mark.parametrize("case", list(CASES))
def test_run_alone_equals_run_among_8(tiny, case: str) -> None:
    _alone_and_batched(tiny(**CASES[case]), num_runs=8, position=5, steps=3,
                       objective=Objective(ObjectiveConfig(policy_loss="vanilla")), control=Control())


def test_run_alone_equals_run_among_16_with_entropy_kl_and_top_entropy(tiny) -> None:
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["entropy", "kl"], modifiers=["top_entropy"]))
    control = Control(entropy_coeff=0.01, kl_loss_coef=0.01, top_entropy_quantile=0.5)
    _alone_and_batched(tiny(), num_runs=16, position=11, steps=3, objective=objective, control=control)


def test_run_alone_equals_run_among_8_with_seed_grpo_and_steer(tiny) -> None:
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", modifiers=["steer"]))
    _alone_and_batched(tiny(), num_runs=8, position=3, steps=3, objective=objective, control=Control(),
                       advantage=AdvantageConfig(adv_estimator="seed_grpo", seed_alpha=0.5))


@pytest.mark.parametrize("method", ["luffy", "par"])
def test_run_alone_equals_run_among_8_with_luffy_and_par(tiny, method: str) -> None:
    if method == "luffy":  # demonstrations: each group's first quarter is the problem's solution
        config, objective, control = tiny(off_policy_share=0.25), ObjectiveConfig(policy_loss="luffy"), Control()
    else:
        config, objective = tiny(), ObjectiveConfig(policy_loss="vanilla", modifiers=["sample_weight"])
        control = Control(pos_weight=0.5)
    _alone_and_batched(config, num_runs=8, position=6, steps=3, objective=Objective(objective), control=control)


def test_run_alone_equals_run_among_8_with_nsa(tiny) -> None:
    """BCPG-NSA: each row's verified steps come from its own response; the credit is per token."""
    _alone_and_batched(tiny(), num_runs=8, position=4, steps=3, objective=Objective(ObjectiveConfig(policy_loss="nsa")),
                       control=Control(nsa_weight=0.5))


def test_run_alone_equals_run_among_8_on_two_threads(tiny) -> None:
    torch.set_num_threads(2)  # the autouse fixture restores the thread count afterwards
    _alone_and_batched(tiny(), num_runs=8, position=2, steps=2,
                       objective=Objective(ObjectiveConfig(policy_loss="vanilla")), control=Control())


def _trained(config: ToyLMConfig, seeds: torch.Tensor, lr: torch.Tensor | float, trainer: TrainerConfig,
             directory: Path) -> tuple[ToyLMBackend, list[dict[str, torch.Tensor]]]:
    backend = ToyLMBackend(config, num_runs=len(seeds), seeds=seeds, lr=lr)
    loop = Trainer(backend, Objective(ObjectiveConfig(policy_loss="vanilla")), GRPO, Control(), None, trainer,
                   directory, seeds.tolist())
    return backend, [loop.train_step() for _ in range(trainer.steps)]


@pytest.mark.parametrize("filter_groups", [
    FilterGroupsConfig(enable=True, metric="acc", max_num_gen_batches=3),
    FilterGroupsConfig(enable=True, rule="range", metric="acc", low=0.25, high=0.5, max_num_gen_batches=3),
], ids=["dapo", "minirl_range"])
def test_run_alone_equals_run_among_6_with_dynamic_sampling(tiny, filter_groups: FilterGroupsConfig,
                                                            tmp_path: Path) -> None:
    config = tiny()
    trainer = TrainerConfig(steps=3, eval_every=0, checkpoint_every=0, tensorboard=False, filter_groups=filter_groups,
                            ppo_mini_batch_size=2)
    seeds, position = torch.arange(6) * 31 + 5, 4
    lr = config.lr * torch.linspace(0.5, 2.0, 6)
    batched, batched_metrics = _trained(config, seeds, lr, trainer, tmp_path / "batched")
    alone, alone_metrics = _trained(config, seeds[position:position + 1], float(lr[position]), trainer,
                                    tmp_path / "alone")
    for name, param in alone.params.items():
        assert torch.equal(param[0], batched.params[name][position]), name
    for step, (mine, ours) in enumerate(zip(alone_metrics, batched_metrics, strict=True)):
        assert all(torch.equal(value[0], ours[name][position]) for name, value in mine.items()), step
    assert any(len(set(m["sampling/draws"].tolist())) > 1 for m in batched_metrics)  # runs needed different draws


class _Record:
    """A trainer callback keeping every step's metrics."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, torch.Tensor]] = []

    def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        self.metrics.append(metrics)


def test_run_alone_equals_run_among_6_with_the_sent_curriculum_and_token_term(tiny, tmp_path: Path) -> None:
    # SENT: the problems each run draws from its own curriculum weights, the token term on a second epoch
    config = tiny()
    trainer = TrainerConfig(steps=4, eval_every=0, checkpoint_every=0, tensorboard=False, ppo_epochs=2,
                            curriculum=CurriculumConfig(enable=True, refresh_every=1, stages=2, stage_steps=3))
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["sent_kl"]))
    seeds, position = torch.arange(6) * 31 + 5, 4
    lr = config.lr * torch.linspace(0.5, 2.0, 6)
    runs = {}
    for name, index in (("batched", slice(None)), ("alone", slice(position, position + 1))):
        backend = ToyLMBackend(config, num_runs=len(seeds[index]), seeds=seeds[index],
                               lr=lr[index] if name == "batched" else float(lr[position]))
        record = _Record()
        loop = Trainer(backend, objective, GRPO, Control(ppo_kl_coef=0.5), None, trainer, tmp_path / name,
                       seeds[index].tolist())
        loop.run([record])
        runs[name] = (backend, record.metrics)
    (alone, alone_metrics), (batched, batched_metrics) = runs["alone"], runs["batched"]
    for name, param in alone.params.items():
        assert torch.equal(param[0], batched.params[name][position]), name
    for step, (mine, ours) in enumerate(zip(alone_metrics, batched_metrics, strict=True)):
        assert all(torch.equal(value[0], ours[name][position]) for name, value in mine.items()), step
    assert batched_metrics[-1]["curriculum/stage"].eq(1).all()


def test_run_alone_equals_run_among_6_with_vapo(tiny, tmp_path: Path) -> None:
    # VAPO: each run's linear critic on its own hidden states, its pretraining, GAE with the length-adaptive
    # lambda and the NLL of its correct responses, over two epochs
    config = tiny(critic=True, critic_lr=1e-2)
    trainer = TrainerConfig(steps=3, eval_every=0, checkpoint_every=0, tensorboard=False, ppo_epochs=2,
                            critic_pretrain_steps=2)
    objective = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["pos_lm"]))
    advantage = AdvantageConfig(adv_estimator="gae", lam_alpha=0.5, lam_critic=1.0)
    seeds, position = torch.arange(6) * 31 + 5, 4
    runs = {}
    for name, index in (("batched", slice(None)), ("alone", slice(position, position + 1))):
        backend = ToyLMBackend(config, num_runs=len(seeds[index]), seeds=seeds[index])
        loop = Trainer(backend, objective, advantage, Control(pos_lm_coef=0.1), None, trainer, tmp_path / name,
                       seeds[index].tolist())
        runs[name] = (backend, [loop.train_step() for _ in range(trainer.steps)])
    (alone, alone_metrics), (batched, batched_metrics) = runs["alone"], runs["batched"]
    for name, param in alone.critic.params.items():
        assert torch.equal(param[0], batched.critic.params[name][position]), name
    for name, param in alone.params.items():
        assert torch.equal(param[0], batched.params[name][position]), name
    for step, (mine, ours) in enumerate(zip(alone_metrics, batched_metrics, strict=True)):
        assert all(torch.equal(value[0], ours[name][position]) for name, value in mine.items()), step
    assert bool((batched_metrics[-1]["critic/value_loss"] > 0).all())
