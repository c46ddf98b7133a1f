"""Exported overrides compose against verl's own ``ppo_trainer`` config, pass verl's validation and its
dataclasses, and rebuild the entropic method they came from; ``entropic-export`` writes both engines' files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import verl
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf
from trl import GRPOConfig
from verl.trainer.config import AlgoConfig
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config
from verl.workers.config import ActorConfig

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.controllers import ControllerConfig
from entropic.llm.export_cli import main as export_main
from entropic.llm.method import EntropicMethod
from entropic.llm.trl_adapter import AGG_MODE_OF
from entropic.llm.verl.export import launch_settings, verl_overrides
from entropic.llm.verl.settings import knob_hook, loss_hook
from entropic.loop import TrainerConfig
from entropic.objectives import ObjectiveConfig

ENVIRONMENT = {"MODEL": "Qwen/Qwen2.5-0.5B-Instruct", "TRAIN_FILES": "train.parquet", "VAL_FILES": "test.parquet"}
PI = {"law": {"name": "pi", "kp": 0.3, "ki": 0.05, "setpoint": 1.2, "output_min": -1.0, "output_max": 1.0,
              "anti_windup": "back_calculation"},
      "actuator": {"name": "entropy_coeff"}, "sensor": {"name": "entropy/mean"}}


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=[*launch_settings(ENVIRONMENT), *overrides])


def _validated(overrides: list[str]):
    """The composed config after verl's own checks: ``validate_config`` and its dataclasses."""
    config = _compose(overrides)
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    algorithm = omega_conf_to_dataclass(config.algorithm)
    assert isinstance(actor, ActorConfig) and isinstance(algorithm, AlgoConfig)
    return config, actor, algorithm


def _method(objective: dict, control: dict, advantage: dict | None = None, controller: dict | None = None,
            **trainer: int) -> EntropicMethod:
    return EntropicMethod(objective=ObjectiveConfig(**objective), advantage=AdvantageConfig(**(advantage or {})),
                          control=Control(**control), controller=controller and ControllerConfig.from_dict(controller),
                          trainer=TrainerConfig(**trainer))


def test_a_native_method_runs_on_verls_own_loss_and_estimator() -> None:
    method = _method({"loss_agg_mode": "seq-mean-token-mean", "terms": ["entropy", "kl"]},
                     {"clip_ratio_high": 0.28, "entropy_coeff": 0.002, "kl_loss_coef": 0.01},
                     {"adv_estimator": "rloo"}, ppo_epochs=2, ppo_mini_batch_size=16)
    config, actor, algorithm = _validated(verl_overrides(method))
    assert config.trainer.v1.trainer_mode == "sync" and "entropic" not in config
    assert (actor.policy_loss.loss_mode, actor.loss_agg_mode, actor.ppo_epochs, actor.ppo_mini_batch_size) == (
        "vanilla", "seq-mean-token-mean", 2, 16)
    assert (actor.clip_ratio_high, actor.entropy_coeff, actor.use_kl_loss, actor.kl_loss_coef) == (
        0.28, 0.002, True, 0.01)
    assert actor.calculate_entropy and algorithm.adv_estimator == "rloo"


def test_a_controlled_method_runs_in_the_entropic_trainer_and_rebuilds_exactly() -> None:
    method = _method({"modifiers": ["top_entropy"], "terms": ["entropy", "unbiased_kl"], "kl_loss_type": "k3"},
                     {"clip_ratio_high": 0.28, "top_entropy_quantile": 0.2, "kl_loss_coef": 0.02},
                     {"adv_estimator": "reinforce_pm1", "gamma": 0.99}, PI)
    config, actor, algorithm = _validated(verl_overrides(method))
    assert config.trainer.v1.trainer_mode == "entropic" and actor.policy_loss.loss_mode == "entropic_vanilla"
    assert algorithm.adv_estimator == "entropic_reinforce_pm1" and algorithm.gamma == 0.99
    hook, knobs = loss_hook(config), knob_hook(config)
    assert hook.objective == method.objective
    assert hook.control == method.control
    assert ControllerConfig.from_dict(OmegaConf.to_container(config.entropic.controller)) == method.controller
    assert knobs is not None and knobs.controller.drives == {"entropy_coeff"}


def test_clip_cov_with_a_constant_length_normaliser() -> None:
    method = _method({"policy_loss": "clip_cov", "loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": 1024},
                     {"clip_ratio_low": 1.0, "clip_ratio_high": 1.0, "clip_cov_ratio": 2e-4},
                     {"norm_adv_by_std_in_grpo": False})
    _, actor, algorithm = _validated(verl_overrides(method))
    assert (actor.policy_loss.loss_mode, actor.loss_scale_factor, actor.policy_loss.clip_cov_ratio) == (
        "clip_cov", 1024, 2e-4)
    assert actor.ppo_mini_batch_size == 64 and algorithm.norm_adv_by_std_in_grpo is False


@pytest.mark.parametrize(("change", "message"), [
    ({"advantage": {"adv_estimator": "unlikeliness"}}, r"no route in verl: it ranks each group's responses"),
    ({"advantage": {"adv_estimator": "gae"}}, r"'gae' has no route in verl: it reads the values of entropic's critic"),
    ({"objective": {"terms": ["pos_lm"]}}, r"'pos_lm' has no route in verl: it needs each response's verdict"),
    ({"advantage": {"epsilon": 1e-4}}, r"advantage.epsilon=0.0001 has no verl field"),
    ({"objective": {"loss_agg_mode": "seq-mean-token-mean", "terms": ["entropy"]}, "controller": PI},
     r"loss_agg_mode='token-mean'"),
    ({"objective": {"loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": 10.5}}, r"must be an integer"),
])
def test_what_verl_cannot_run_is_refused(change: dict, message: str) -> None:
    arguments = {"objective": {"terms": ["entropy"]}, "control": {}} | change
    with pytest.raises(ValueError, match=message):
        verl_overrides(_method(**arguments))


def test_inconsistent_verl_settings_are_refused_before_training() -> None:
    method = _method({"terms": ["entropy"]}, {"entropy_coeff": 0.01}, controller=PI)
    overrides = verl_overrides(method)
    with pytest.raises(ValueError, match=r"use_kl_loss=True must be True exactly when"):
        loss_hook(_compose([*overrides, "actor_rollout_ref.actor.use_kl_loss=true"]))
    with pytest.raises(ValueError, match=r"set actor_rollout_ref.actor.calculate_entropy=True"):
        loss_hook(_compose([*overrides, "actor_rollout_ref.actor.calculate_entropy=false"]))
    with pytest.raises(ValueError, match=r"entropic.control.clip_ratio_high is verl's"):
        loss_hook(_compose([*overrides, "+entropic.control.clip_ratio_high=0.3"]))
    with pytest.raises(ValueError, match=r"bypass_mode=True computes no entropy"):
        knob_hook(_compose([*overrides, "algorithm.rollout_correction.bypass_mode=true"]))


@pytest.fixture
def run_config(tmp_path: Path) -> Path:
    """An entropic-train run config: entropy bonus under the PI controller."""
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["method=entropy_bonus", "controller=pi_entropy_coeff",
                                                      "controller.law.setpoint=1.0", "control.clip_ratio_high=0.28"])
    path = tmp_path / "run" / "config.yaml"
    path.parent.mkdir()
    OmegaConf.save(cfg, path, resolve=True)
    return path


def test_the_launch_script_passes_the_overrides_verl_validates(run_config: Path, tmp_path: Path) -> None:
    assert export_main(["--to", "verl", str(run_config.parent), "--out", str(tmp_path / "verl")]) == 0
    script = tmp_path / "verl" / "run_verl.sh"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text('#!/usr/bin/env bash\nprintf "%s\\0" "$@" > "$ARGS_OUT"\n')
    (fake / "python3").chmod(0o755)
    env = {**os.environ, **ENVIRONMENT, "PATH": f"{fake}:{os.environ['PATH']}", "ARGS_OUT": str(tmp_path / "args"),
           "N_GPUS": "2"}
    subprocess.run(["bash", str(script), "trainer.total_epochs=3"], env=env, check=True, timeout=60)
    arguments = (tmp_path / "args").read_text().split("\0")[:-1]
    assert arguments[:2] == ["-m", "verl.trainer.main_ppo"] and arguments[-1] == "trainer.total_epochs=3"
    written = (tmp_path / "verl" / "verl_overrides.txt").read_text().split("\n")[:-1]
    assert arguments[-1 - len(written):-1] == written
    config, actor, _ = _validated(arguments[2:])
    assert (config.trainer.n_gpus_per_node, config.trainer.total_epochs, actor.clip_ratio_high) == (2, 3, 0.28)
    assert knob_hook(config).controller.law == "pi" and loss_hook(config).objective.terms == ["entropy"]


def test_the_trl_export_is_a_grpo_config_the_adapter_accepts(run_config: Path, tmp_path: Path) -> None:
    assert export_main(["--to", "trl", str(run_config)]) == 0
    kwargs = json.loads((run_config.parent / "trl" / "trl_grpo_config.json").read_text())
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **kwargs)
    assert AGG_MODE_OF[args.loss_type] == "token-mean" and args.epsilon_high == 0.28 and args.entropy_coef == 0.0
    assert "EntropicGRPOTrainer" in (run_config.parent / "trl" / "train_trl.py").read_text()


def test_a_directory_without_one_config_is_named(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        export_main(["--to", "verl", str(tmp_path)])
    assert "holds no single entropic config" in capsys.readouterr().err
