"""GRPO on the toy LM raises accuracy and lowers token entropy; entropic-train runs every preset on it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from toy_lm_steps import train

from entropic.cli.train import train as entropic_train
from entropic.experiment import build_trainer
from entropic.objectives import AGG_MODES
from entropic.sims.toy_lm import ToyLMBackend

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OBJECTIVES = sorted(p.stem for p in (CONFIGS / "method").glob("*.yaml"))
CONTROLLERS = sorted(p.stem for p in (CONFIGS / "controller").glob("*.yaml"))
OBJECTIVE_FOR_ACTUATOR = {"entropy_coeff": "entropy_bonus", "entropic_alpha": "entropic",
                          "top_entropy_quantile": "top_entropy", "pos_neg_weight": "w_reinforce",
                          "clip_ratio_high": "dapo"}


def test_grpo_raises_accuracy_and_lowers_token_entropy_on_addition(tiny) -> None:
    backend = ToyLMBackend(tiny(num_prompts=16, group_size=8, num_eval_problems=64), num_runs=2)
    before = backend.evaluate()
    train(backend, 40)
    after = backend.evaluate()
    assert bool((after["eval/pass@1"] > before["eval/pass@1"] + 0.03).all()), (before["eval/pass@1"],
                                                                               after["eval/pass@1"])
    assert bool((after["eval/entropy"] < before["eval/entropy"] - 0.1).all()), (before["eval/entropy"],
                                                                                after["eval/entropy"])


def _config(tiny, cache: Path, *overrides: str) -> DictConfig:
    config = tiny()
    backend = [f"backend.{name}={json.dumps(getattr(config, name))}" for name in (
        "num_digits", "n_layer", "n_head", "n_embd", "init_accuracy", "init_entropy", "pretrain_steps",
        "num_train_problems", "num_eval_problems", "eval_samples", "eval_k", "num_prompts", "group_size", "lr")]
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="train", overrides=[
            "backend=toy_lm", *backend, f"backend.cache_dir={cache}", "num_runs=2", "trainer.tensorboard=false",
            "trainer.checkpoint_every=0", "trainer.eval_every=0", *overrides])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_preset_trains_the_toy_lm(objective: str, tiny, warm_cache: Path, tmp_path: Path) -> None:
    trainer = build_trainer(_config(tiny, warm_cache, f"method={objective}", "trainer.steps=2"), tmp_path)
    assert isinstance(trainer.backend, ToyLMBackend)
    summary = trainer.fit(progress=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1]
    assert math.isfinite(summary["final"]["actor/loss"]) and "eval/pass@1" in json.loads(lines[-1])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("method", ["dapo_dynamic", "minirl_filter"])
def test_dynamic_sampling_presets_run_the_toy_lm_through_entropic_train(method: str, tiny, warm_cache: Path,
                                                                         tmp_path: Path) -> None:
    summary = entropic_train(_config(tiny, warm_cache, f"method={method}", "trainer.steps=2"), tmp_path)
    assert math.isfinite(summary["final"]["actor/loss"])
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        metrics = json.loads(line)  # two runs: a value each
        assert all(1 <= draws <= 10 for draws in metrics["sampling/draws"])
        assert all(0 <= kept <= 1 for kept in metrics["sampling/kept_fraction"])
        assert all(0 <= short <= tiny().num_prompts for short in metrics["sampling/shortfall"])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_every_controller_preset_drives_the_toy_lm(controller: str, tiny, warm_cache: Path, tmp_path: Path) -> None:
    actuator = (CONFIGS / "controller" / f"{controller}.yaml").read_text().split("actuator:")[1].split()[1]
    trainer = build_trainer(_config(tiny, warm_cache, f"method={OBJECTIVE_FOR_ACTUATOR[actuator]}",
                                    f"controller={controller}", "trainer.steps=2"), tmp_path)
    trainer.fit(progress=False)
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(torch.tensor(last["controller/output"]).sum())


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_seed_grpo_and_steer_presets_act_on_the_toy_lm(tiny, warm_cache: Path, tmp_path: Path) -> None:
    trained = {}
    for method in ("grpo", "seed_grpo", "steer"):
        trainer = build_trainer(_config(tiny, warm_cache, f"method={method}", "trainer.steps=2"), tmp_path / method)
        trainer.fit(progress=False)
        trained[method] = trainer
    rollout = trained["seed_grpo"].backend.rollout()
    assert bool((rollout.answer >= -1).all()) and int((rollout.answer >= 0).sum()) > 0  # parsed answers
    moved = [name for name, param in trained["seed_grpo"].backend.params.items()
             if not torch.equal(param, trained["grpo"].backend.params[name])]
    assert moved  # the semantic-entropy scale changed the update
    last = json.loads((tmp_path / "steer" / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(0.8 <= weight < 1.0 for weight in last["actor/steer_weight_mean"])  # one per run


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_luffy_and_par_presets_act_on_the_toy_lm(tiny, warm_cache: Path, tmp_path: Path) -> None:
    params, rows = {}, {}
    for method in ("grpo", "luffy", "par"):
        trainer = build_trainer(_config(tiny, warm_cache, f"method={method}", "trainer.steps=2"), tmp_path / method)
        trainer.fit(progress=False)
        params[method] = trainer.backend.params
        rows[method] = [json.loads(line) for line in (tmp_path / method / "metrics.jsonl").read_text().splitlines()]
    for method in ("luffy", "par"):  # each changes GRPO's update from the same start on the same seeds
        assert any(not torch.equal(param, params["grpo"][name]) for name, param in params[method].items())
    for row in rows["luffy"]:  # 1 solution in each group of 8 (round(0.125 x 8)): a share of the tokens
        assert all(0 < share < 0.5 for share in row["actor/off_policy_frac"])
    assert all(row["control/pos_weight"] == [0.5, 0.5] for row in rows["par"])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_nsa_preset_credits_steps_through_entropic_train(tiny, warm_cache: Path, tmp_path: Path) -> None:
    rows = {}
    for method in ("grpo", "nsa"):
        summary = entropic_train(_config(tiny, warm_cache, f"method={method}", "trainer.steps=2"), tmp_path / method)
        assert math.isfinite(summary["final"]["actor/loss"])
        rows[method] = [json.loads(line) for line in (tmp_path / method / "metrics.jsonl").read_text().splitlines()]
    assert all(row["control/nsa_weight"] == [1.0, 1.0] for row in rows["nsa"])
    credited = [share for row in rows["nsa"] for share in row["actor/nsa_credited_frac"]]
    assert all(0 <= share < 1 for share in credited) and max(credited) > 0  # tens digits of wrong sums
    assert rows["nsa"][0]["reward/mean"] == rows["grpo"][0]["reward/mean"]  # the same first rollout ...
    assert rows["nsa"][1]["actor/loss"] != rows["grpo"][1]["actor/loss"]    # ... a different update


def test_sent_preset_draws_its_curriculum_through_entropic_train(tiny, warm_cache: Path, tmp_path: Path) -> None:
    cfg = _config(tiny, warm_cache, "method=sent", "trainer.steps=3", "trainer.ppo_epochs=2",
                  "trainer.curriculum.refresh_every=1", "trainer.curriculum.stage_steps=2")
    trainer = build_trainer(cfg, tmp_path)
    trainer.fit(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["curriculum/stage"] for row in rows] == [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    assert all(kl > 0 for kl in rows[-1]["actor/sent_kl"])  # the second epoch moved off the old policy
    weights = trainer.curriculum.weights(trainer.step)  # the last stage: each run's upper half of its order
    rollout = trainer.backend.rollout()
    for r in range(2):
        drawn = trainer.backend.prompt_index(rollout)[rollout.run_ids() == r]
        assert bool((weights[r, drawn] > 0).all()) and int(weights[r].sum()) == trainer.backend.prompt_pool // 2


def test_killed_run_resumes_to_the_same_trajectory(tiny, warm_cache: Path, tmp_path: Path) -> None:
    overrides = ("method=dapo", "trainer.steps=4", "trainer.ppo_mini_batch_size=2", "trainer.ppo_epochs=2")
    unbroken = build_trainer(_config(tiny, warm_cache, *overrides), tmp_path / "unbroken")
    unbroken.fit(progress=False)
    first = build_trainer(_config(tiny, warm_cache, *overrides, "trainer.checkpoint_every=2"), tmp_path / "resumed")
    first.config.steps = 2
    first.fit(progress=False)
    resumed = build_trainer(_config(tiny, warm_cache, *overrides, "trainer.checkpoint_every=2"), tmp_path / "resumed")
    assert resumed.resume() and resumed.step == 2
    resumed.fit(progress=False)
    for name, param in unbroken.backend.params.items():
        assert torch.equal(resumed.backend.params[name], param), name


@pytest.mark.parametrize("mode", AGG_MODES)
def test_micro_batches_take_the_whole_mini_batch_step_on_responses_of_many_lengths(
        mode: str, tiny, warm_cache: Path, tmp_path: Path) -> None:
    overrides = ("method=top_entropy", "objective.terms=[entropy]", "control.entropy_coeff=0.01",
                 f"objective.loss_agg_mode={mode}", "backend.optimizer=sgd", "backend.dtype=float64",
                 "trainer.steps=1", "trainer.ppo_epochs=2")
    whole = build_trainer(_config(tiny, warm_cache, *overrides), tmp_path / "whole")
    split = build_trainer(_config(tiny, warm_cache, *overrides, "trainer.ppo_micro_batch_size=3"), tmp_path / "split")
    start = {name: param.clone() for name, param in whole.backend.params.items()}
    whole.run()
    split.run()
    rollout = split.backend.rollout()
    assert len(split._micro_batches(rollout)) > 1 and rollout.lengths().unique().numel() > 1
    for name, param in whole.backend.params.items():
        torch.testing.assert_close(split.backend.params[name] - start[name], param - start[name],
                                   rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_vapo_preset_trains_the_toy_lm_critic_through_entropic_train(tiny, warm_cache: Path, tmp_path: Path) -> None:
    cfg = _config(tiny, warm_cache, "method=vapo", "trainer.steps=3", "trainer.critic_pretrain_steps=5",
                  "backend.critic_lr=0.01")
    summary = entropic_train(cfg, tmp_path)
    assert math.isfinite(summary["final"]["actor/loss"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(len(row["critic/value_loss"]) == 2 and len(row["actor/pos_lm_nll"]) == 2 for row in rows)
    assert "critic/pretrain_value_loss" in rows[0]
