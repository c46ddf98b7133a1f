"""Bad configs fail before any work, naming the field and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, InstantiationException

from entropic import experiment
from entropic.experiment import build_trainer, validate


@pytest.mark.parametrize(("override", "message"), [
    ("control.top_entropy_quantile=1.5", "top_entropy_quantile"),
    ("control.clip_ratio_low=-0.1", "clip_ratio_low"),
    ("objective.policy_loss=ppo2", "objective.policy_loss='ppo2' is not a known policy loss; allowed values"),
    ("objective.loss_agg_mode=mean", "loss_agg_mode='mean' is not supported; allowed values"),
    ("objective.kl_loss_type=k9", "objective.kl_loss_type"),
    ("objective.modifiers=[top_ent]", "objective.modifiers"),
    ("advantage.adv_estimator=ppo", "advantage.adv_estimator"),
    ("advantage.beta_rank=1.5", "advantage.beta_rank must lie in [0, 1], got 1.5"),
    ("trainer.steps=0", "trainer.steps"),
    ("trainer.ppo_mini_batch_size=0", "trainer.ppo_mini_batch_size"),
    ("trainer.reference_reset_every=-1", "trainer.reference_reset_every must be >= 0"),
    ("trainer.reference_reset_optimizer=true", "reference_reset_optimizer=true needs trainer.reference_reset_every"),
    ("num_runs=0", "num_runs"),
    ("run_seeds=[1,2]", "run_seeds"),
    ("control.clip_ratio_high=[0.2,0.3]", "runs"),
])
def test_bad_value_raises_value_error_naming_the_field(override: str, message: str, make_config,
                                                       tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        build_trainer(make_config(override), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.parametrize(("overrides", "message"), [
    (["control.entropy_coeff=abc"], "control.entropy_coeff must be a number in [-inf, inf], or a list of num_runs=1 "
                                    "such numbers (one per run); got 'abc'"),
    (["control.clip_ratio_low=true"], "control.clip_ratio_low must be a number in [0.0, 1.0], or a list of "
                                      "num_runs=1 such numbers (one per run); got True"),
    (["control.top_entropy_quantile=0"], "control.top_entropy_quantile must be a number in (0.0, 1.0]"),
    (["control.clip_ratio_c=1"], "control.clip_ratio_c must be a number in (1.0, inf]"),
    (["num_runs=3", "control.kl_loss_coef=[0.1,0.2]"],
     "control.kl_loss_coef: a per-run list must hold num_runs=3 values (one per run), got 2"),
    (["num_runs=2", "control.kl_loss_coef=[0.1,-0.1]"],
     "control.kl_loss_coef must be a number in [0.0, inf], or a list of num_runs=2 such numbers"),
    (["num_runs=2", "control.kl_loss_coef=[0.1,abc]"], "control.kl_loss_coef must be a number in [0.0, inf]"),
    (["num_runs=2", "backend.lr=[16.0,0.0]"], "backend.lr must be a finite number > 0, or a list of num_runs=2"),
    (["num_runs=2", "controller=pi_entropy_coeff", "method=entropy_bonus", "controller.law.kp=[0.1,0.2,0.3]"],
     "controller.law.kp: a per-run list must hold num_runs=2 values (one per run), got 3"),
])
def test_bad_knob_is_refused_naming_it_before_the_backend_is_built(make_config, tmp_path: Path, monkeypatch,
                                                                    overrides: list[str], message: str) -> None:
    def built(*args, **kwargs):
        raise AssertionError("the backend was built before the config was refused")

    monkeypatch.setattr(experiment, "_instantiate_backend", built)
    with pytest.raises(ValueError, match=re.escape(message)):
        build_trainer(make_config(*overrides), tmp_path)


def test_per_run_lists_become_per_run_knobs_and_controllers(make_config, tmp_path: Path) -> None:
    cfg = make_config("num_runs=2", "method=entropy_bonus", "controller=pi_entropy_coeff", "control.kl_loss_coef=0.01",
                      "control.entropy_coeff=[0.0,0.01]", "controller.law.kp=[0.1,0.2]", "backend.lr=[8.0,16.0]")
    assert [config.law.kp for config in validate(cfg).controller_config] == [0.1, 0.2]
    trainer = build_trainer(cfg, tmp_path)
    assert trainer.control.entropy_coeff.tolist() == pytest.approx([0.0, 0.01])
    assert trainer.control.kl_loss_coef == 0.01  # one number stays a float, for every run
    assert trainer.backend.lr.tolist() == [8.0, 16.0]


def test_advantage_group_takes_the_unlikeliness_rank_penalty(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("advantage=unlikeliness", "advantage.beta_rank=0.25"), tmp_path)
    assert (trainer.advantage.adv_estimator, trainer.advantage.beta_rank) == ("unlikeliness", 0.25)


def test_bad_backend_value_names_the_backend_field(make_config, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_correct"):  # the backend's own error, not Hydra's wrapper
        build_trainer(make_config("backend.num_correct=40"), tmp_path)


@pytest.mark.parametrize("override", ["objective.unknown=1", "control.unknown=1", "trainer.unknown=1"])
def test_unknown_key_is_refused_at_composition(override: str, make_config) -> None:
    with pytest.raises(ConfigCompositionException, match=override.split("=")[0].split(".")[1]):
        make_config(override)


def test_controller_on_a_knob_the_objective_does_not_read(make_config, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"drives \['entropy_coeff'\] but no part of the objective reads it"):
        build_trainer(make_config("method=grpo", "controller=pi_entropy_coeff"), tmp_path)


def test_ratio_knobs_warn_with_one_update_per_batch(make_config, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"\['clip_ratio_high'\] only act when the importance ratio leaves 1"):
        build_trainer(make_config("method=dapo"), tmp_path)


def test_ratio_knobs_do_not_warn_with_several_updates(make_config, tmp_path: Path, recwarn) -> None:
    build_trainer(make_config("method=dapo", "trainer.ppo_epochs=2"), tmp_path / "epochs")
    build_trainer(make_config("method=dapo", "trainer.ppo_mini_batch_size=2"), tmp_path / "minibatch")
    assert not [w for w in recwarn if "importance ratio" in str(w.message)]


@pytest.mark.parametrize(("override", "message"), [
    ("+trainer.stepz=5", r"trainer.stepz is not a config field; allowed fields of trainer: \[.*'steps'"),
    ("+objective.foo=1", r"objective.foo is not a config field"),
    ("backend.lr=abc", r"backend.lr must be a finite number > 0, or a list of num_runs=1 such numbers \(one per "
                       r"run\); got 'abc'"),
])
def test_unknown_fields_and_unreadable_values_are_named(make_config, tmp_path, override: str, message: str) -> None:
    with pytest.raises((ValueError, InstantiationException), match=message):  # the CLI shows the cause
        build_trainer(make_config(override), tmp_path)
    assert not (tmp_path / "config.yaml").exists()


@pytest.mark.parametrize("overrides", [
    ("method=entropy_bonus", "controller=pi_entropy_coeff", "controller.law.setpoint=100"),
    ("method=entropy_bonus", "controller=skywork_trl", "controller.law.target=3.5"),
])
def test_an_entropy_target_above_log_k_is_refused(make_config, tmp_path, overrides: tuple[str, ...]) -> None:
    # the default bandit has 32 arms: no policy has more than log 32 = 3.4657 nats
    with pytest.raises(ValueError, match=r"above what this backend's policy can reach .*3\.4657 nats"):
        build_trainer(make_config(*overrides), tmp_path)
    build_trainer(make_config(*overrides[:2]), tmp_path / "ok")  # the preset's own target is reachable
