"""Every objective and controller preset composes, validates and trains a few steps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from entropic.cli.train import train as entropic_train
from entropic.experiment import build_trainer, validate
from entropic.objectives import Objective

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OBJECTIVES = sorted(p.stem for p in (CONFIGS / "method").glob("*.yaml"))
CONTROLLERS = sorted(p.stem for p in (CONFIGS / "controller").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
OBJECTIVE_FOR_ACTUATOR = {"entropy_coeff": "entropy_bonus", "entropic_alpha": "entropic",
                          "top_entropy_quantile": "top_entropy", "pos_neg_weight": "w_reinforce",
                          "clip_ratio_high": "dapo"}


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_objective_preset_trains(objective: str, make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config(f"method={objective}", "trainer.steps=3"), tmp_path)
    summary = trainer.fit(progress=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2]
    assert math.isfinite(summary["final"]["actor/loss"])
    assert "eval/pass@1" in json.loads(lines[-1])  # the last step is always evaluated


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_seed_grpo_and_steer_presets_act_on_the_bandit(make_config, tmp_path: Path) -> None:
    trained = {}
    for method in ("grpo", "seed_grpo", "steer"):
        trainer = build_trainer(make_config(f"method={method}", "trainer.steps=2"), tmp_path / method)
        trainer.fit(progress=False)
        trained[method] = trainer
    params = {method: trainer.backend.policy.params["logits"].detach() for method, trainer in trained.items()}
    start = build_trainer(make_config(), tmp_path / "start").backend.policy.params["logits"].detach()
    # semantic entropy only damps: SEED-GRPO's logits move less than GRPO's from the same start
    assert 0 < float((params["seed_grpo"] - start).norm()) < float((params["grpo"] - start).norm())
    last = json.loads((tmp_path / "steer" / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.8 <= last["actor/steer_weight_mean"] < 1.0 and last["actor/steer_omega_max"] > 0


def _logits_after(make_config, directory: Path, *overrides: str) -> torch.Tensor:
    trainer = build_trainer(make_config(*overrides), directory)
    trainer.fit(progress=False)
    return trainer.backend.policy.params["logits"].detach()


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_par_and_luffy_presets_act_on_the_bandit(make_config, tmp_path: Path) -> None:
    one = ("trainer.steps=1", "backend.dtype=float64")
    start = build_trainer(make_config(*one), tmp_path / "start").backend.policy.params["logits"].detach()
    moved = {weight: _logits_after(make_config, tmp_path / f"par_{weight}", "method=par", *one,
                                   f"control.pos_weight={weight}") - start for weight in (0.0, 0.5, 1.0)}
    # one SGD step is linear in the positive tokens' weight: lambda = 0.5 is halfway between NSR (0) and GRPO (1)
    torch.testing.assert_close(moved[0.5], (moved[0.0] + moved[1.0]) / 2, rtol=1e-10, atol=1e-12)
    grpo = _logits_after(make_config, tmp_path / "grpo", "method=grpo", *one) - start
    torch.testing.assert_close(moved[1.0], grpo, rtol=0, atol=0)
    luffy = build_trainer(make_config("method=luffy", "trainer.steps=2"), tmp_path / "luffy")
    luffy.fit(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "luffy" / "metrics.jsonl").read_text().splitlines()]
    assert all(row["actor/off_policy_frac"] == 0.25 for row in rows)  # round(0.125 x 4) = 1 of 4 responses
    assert all(0 < row["actor/off_policy_prob"] < 1 for row in rows)
    assert [row["control/off_policy_gamma"] for row in rows] == pytest.approx([0.1, 0.1])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_nsa_preset_is_grpo_on_the_bandit_through_entropic_train(make_config, tmp_path: Path) -> None:
    """The bandit's responses have no steps (``verified_steps=None``): BCPG-NSA trains exactly as GRPO."""
    final = {}
    for method in ("grpo", "nsa"):
        final[method] = entropic_train(make_config(f"method={method}", "trainer.steps=3"), tmp_path / method)["final"]
    assert math.isfinite(final["nsa"]["actor/loss"]) and final["nsa"]["actor/nsa_credited_frac"] == 0.0
    assert final["nsa"]["reward/mean"] == final["grpo"]["reward/mean"]
    torch.testing.assert_close(_logits_after(make_config, tmp_path / "nsa_fit", "method=nsa", "trainer.steps=3"),
                               _logits_after(make_config, tmp_path / "grpo_fit", "method=grpo", "trainer.steps=3"),
                               rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("method, rule", [("dapo_dynamic", "mixed"), ("minirl_filter", "range")])
def test_dynamic_sampling_presets_run_through_entropic_train(method: str, rule: str, make_config,
                                                             tmp_path: Path) -> None:
    cfg = make_config(f"method={method}", "trainer.steps=3")
    assert cfg.trainer.filter_groups.enable and cfg.trainer.filter_groups.rule == rule
    summary = entropic_train(cfg, tmp_path)
    assert math.isfinite(summary["final"]["actor/loss"])
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        metrics = json.loads(line)
        assert 1 <= metrics["sampling/draws"] <= 10 and 0 <= metrics["sampling/kept_fraction"] <= 1
        assert 0 <= metrics["sampling/shortfall"] <= 8  # at most the 8 prompts of a step


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_sent_preset_trains_the_curriculum_on_the_bandit_through_entropic_train(make_config, tmp_path: Path) -> None:
    cfg = make_config("method=sent", "trainer.steps=4", "trainer.ppo_epochs=2", "num_runs=2",
                      "trainer.curriculum.refresh_every=2", "trainer.curriculum.stage_steps=3")
    summary = entropic_train(cfg, tmp_path)
    assert math.isfinite(summary["final"]["actor/loss"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["curriculum/stage"] for row in rows] == [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    assert all(kl > 0 for row in rows for kl in row["actor/sent_kl"])  # the second epoch moves off the old policy
    trainer = build_trainer(make_config("method=sent", "trainer.curriculum.refresh_every=1"), tmp_path / "fresh")
    trainer.run(steps=2)  # step 1 drew the bucket of the 4 prompts of lowest estimated semantic entropy, of 8
    rollout = trainer.backend.rollout()
    prompts = set(rollout.prompts.tolist())
    assert len(prompts) == 4 and prompts == set(trainer.curriculum.order()[0, :4].tolist())


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_controller_preset_trains_with_the_objective_it_drives(controller: str, make_config, tmp_path: Path) -> None:
    actuator = (CONFIGS / "controller" / f"{controller}.yaml").read_text().split("actuator:")[1].split()[1]
    objective = OBJECTIVE_FOR_ACTUATOR[actuator]
    trainer = build_trainer(make_config(f"method={objective}", f"controller={controller}", "trainer.steps=3"),
                            tmp_path)
    trainer.fit(progress=False)
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert "controller/output" in last and math.isfinite(last["controller/output"])


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_config_composes_and_validates(experiment: str, make_config, tmp_path: Path) -> None:
    cfg = make_config(f"experiment={experiment}")
    run = validate(cfg)
    Objective(run.objective)
    # every claim is measured over at least 5 seeds: together, or one per process (the LLM backend, whose
    # header names the five seeds of its multirun)
    assert run.num_runs >= 5 or "seed=0,1,2,3,4" in (CONFIGS / "experiment" / f"{experiment}.yaml").read_text()
    if cfg.backend._target_ == "entropic.sims.make_backend":  # the toy LM pretrains its warm start: built elsewhere
        build_trainer(cfg, tmp_path)


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_vapo_preset_pretrains_and_trains_its_critic_on_the_bandit_through_entropic_train(make_config,
                                                                                         tmp_path: Path) -> None:
    cfg = make_config("method=vapo", "trainer.steps=3", "trainer.critic_pretrain_steps=4", "num_runs=2",
                      "trainer.ppo_epochs=2")
    summary = entropic_train(cfg, tmp_path)
    assert math.isfinite(summary["final"]["actor/loss"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "critic/pretrain_value_loss" in rows[0] and all("critic/pretrain_value_loss" not in r for r in rows[1:])
    assert all(len(row["critic/value_loss"]) == 2 and len(row["actor/pos_lm_nll"]) == 2 for row in rows)
    assert rows[0]["control/clip_ratio_high"] == pytest.approx([0.28, 0.28])
    with pytest.raises(ValueError, match="advantage.adv_estimator=gae needs a backend with a critic"):
        build_trainer(make_config("method=vapo", "backend.critic=false"), tmp_path / "no_critic")


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_a_resumed_vapo_run_continues_with_its_critic(make_config, tmp_path: Path) -> None:
    overrides = ("method=vapo", "trainer.steps=4", "trainer.critic_pretrain_steps=2", "trainer.ppo_epochs=2")
    unbroken = build_trainer(make_config(*overrides), tmp_path / "unbroken")
    unbroken.fit(progress=False)
    first = build_trainer(make_config(*overrides, "trainer.checkpoint_every=2"), tmp_path / "resumed")
    first.config.steps = 2
    first.fit(progress=False)
    resumed = build_trainer(make_config(*overrides, "trainer.checkpoint_every=2"), tmp_path / "resumed")
    assert resumed.resume() and resumed.step == 2
    resumed.fit(progress=False)  # no second pretraining: the critic comes from the checkpoint
    assert torch.equal(resumed.backend.critic.table, unbroken.backend.critic.table)
    for name, param in unbroken.backend.policy.params.items():
        assert torch.equal(resumed.backend.policy.params[name], param), name
