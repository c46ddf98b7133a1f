"""Studies of a method's own knobs (SEED-GRPO's alpha and scale, STEER's weight floor, LUFFY's gamma, PAR's
weight, VAPO's mu and alpha, SENT's token term and curriculum schedule) run on the bandit."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_module

from entropic.experiment import validate
from entropic.loop import TrainerConfig
from entropic.tuning.study.batch import Method, Simulator
from entropic.tuning.study.cli import run_study
from entropic.tuning.study.space import SearchSpace, SearchSpaceError, set_path

TINY = ["trainer.steps=6", "tune.n_trials=7", "tune.batch_size=4", "tune.seeds=1", "tune.report=false",
        "tune.report_every=0", "backend.num_prompts=8"]


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize(("preset", "params"), [("seed_grpo", {"advantage.seed_alpha", "advantage.seed_scaling"}),
                                                ("steer", {"objective.steer_weight_min"}),
                                                ("luffy", {"control.off_policy_gamma", "backend.off_policy_share"}),
                                                ("par", {"control.pos_weight"}),
                                                ("vapo", {"control.pos_lm_coef", "advantage.lam_alpha"})])
def test_a_method_preset_study_samples_its_config_fields_into_each_trial(preset: str, params: set[str],
                                                                         tmp_path: Path) -> None:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name=f"tune/{preset}", overrides=TINY)
    summary = run_study(cfg, tmp_path)
    assert summary["counts"]["COMPLETE"] == 7  # the preset and the published defaults first, then 3 searched
    study = optuna.load_study(study_name=preset, storage=f"sqlite:///{tmp_path / 'study.db'}")
    searched = [t for t in study.trials if params <= set(t.params)]
    assert searched, "no trial sampled the method's fields"
    for trial in searched:  # each trial's method holds the values Optuna sampled for it
        method = Method.from_dict(trial.user_attrs["method"])
        for path in params:
            root, field = path.split(".")
            assert getattr(method, root)[field] == trial.params[path]


def test_the_sent_preset_searches_its_token_term_and_its_curriculum_schedule(tmp_path: Path) -> None:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="tune/sent", overrides=TINY)
    assert run_study(cfg, tmp_path)["counts"]["COMPLETE"] == 7
    study = optuna.load_study(study_name="sent", storage=f"sqlite:///{tmp_path / 'study.db'}")
    schedule = ("trainer.curriculum.refresh_every", "trainer.curriculum.stage_steps")
    searched = [t for t in study.trials if {"control.ppo_kl_coef", "control.kl_cov_ratio", *schedule} <= set(t.params)]
    assert searched, "no trial sampled SENT's fields"
    for trial in searched:
        method = Method.from_dict(trial.user_attrs["method"])
        assert method.control["ppo_kl_coef"] == trial.params["control.ppo_kl_coef"]
        assert {f"trainer.curriculum.{k}": v for k, v in method.curriculum.items()} == \
            {path: trial.params[path] for path in schedule}


def test_a_trial_s_curriculum_reaches_its_simulation_and_splits_the_batch(tmp_path: Path) -> None:
    study = {"trainer": {"steps": 2, "curriculum": {"enable": True, "refresh_every": 10}}}
    fast, slow = Method(), Method()
    set_path(fast, "trainer.curriculum.refresh_every", 1)
    assert fast.run_config(study)["trainer"]["curriculum"] == {"enable": True, "refresh_every": 1}
    assert slow.run_config(study)["trainer"]["curriculum"] == {"enable": True, "refresh_every": 10}
    assert fast.structure() != slow.structure()  # different schedules never share a simulation
    simulator = Simulator({"_target_": "entropic.sims.make_backend", "num_prompts": 4, "group_size": 4},
                          TrainerConfig(steps=2), tmp_path)
    trainer = simulator._build([validate(fast.run_config(study))], [0, 1])
    assert trainer.curriculum is not None and trainer.curriculum.config.refresh_every == 1
    with pytest.raises(SearchSpaceError, match="trainer.curriculum"):
        SearchSpace({"params": {"trainer": {"steps": {"low": 1, "high": 9, "int": True}}}}, Method())


def test_a_trial_s_demonstration_share_reaches_its_simulation_and_splits_the_batch(tmp_path: Path) -> None:
    study = {"backend": {"off_policy_share": 0.125, "lr": 8.0}}
    more, less = Method(), Method()
    set_path(more, "backend.off_policy_share", 0.5)
    assert more.run_config(study)["backend"] == {"off_policy_share": 0.5, "lr": 8.0}
    assert less.run_config(study)["backend"] == {"off_policy_share": 0.125, "lr": 8.0}
    assert more.structure() != less.structure()  # one share per simulation
    simulator = Simulator({"_target_": "entropic.sims.make_backend", "num_prompts": 4, "group_size": 4},
                          TrainerConfig(steps=2), tmp_path)
    trainer = simulator._build([validate(more.run_config(study))], [0, 1])
    rollout = trainer.backend.rollout()
    assert rollout.off_policy is not None
    assert rollout.off_policy.view(-1, 4).sum(-1).tolist() == [2] * 8  # half of each group of 4, every prompt and run
    with pytest.raises(SearchSpaceError, match="backend.off_policy_share"):
        SearchSpace({"params": {"backend": {"group_size": {"low": 2, "high": 8, "int": True}}}}, Method())


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_the_nsa_preset_searches_its_credit_over_its_whole_range(tmp_path: Path) -> None:
    """``tune/nsa`` studies the toy LM; on the bandit (no steps, every trial GRPO) it runs in a test's time."""
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="tune/nsa", overrides=[*TINY, "backend=bandit"])
    assert run_study(cfg, tmp_path)["counts"]["COMPLETE"] == 7
    study = optuna.load_study(study_name="nsa", storage=f"sqlite:///{tmp_path / 'study.db'}")
    weights = [t.params["control.nsa_weight"] for t in study.trials if "control.nsa_weight" in t.params]
    assert weights and all(-1.0 <= w <= 2.0 for w in weights)


def test_unknown_method_fields_are_refused_naming_the_fields() -> None:
    with pytest.raises(SearchSpaceError, match="advantage fields"):
        SearchSpace({"params": {"advantage": {"seed_alpah": {"low": 0.0, "high": 1.0}}}}, Method())
    with pytest.raises(SearchSpaceError, match="not allowed"):  # a bound the config dataclass refuses
        SearchSpace({"params": {"objective": {"steer_weight_min": {"low": 0.0, "high": 2.0}}}},
                    Method(objective={"modifiers": ["steer"]}))
    method = Method()
    set_path(method, "advantage.seed_alpha", 0.5)
    assert method.advantage == {"seed_alpha": 0.5}
