"""The controller on verl's driver moves its knob from verl's step metrics, and the trainer carries it to the loss."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from verl.trainer.ppo.core_algos import agg_loss
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from entropic.control import Control
from entropic.controllers import ControllerConfig
from entropic.llm.verl.knob_hook import KnobHook
from entropic.llm.verl.knobs import KNOBS_KEY
from entropic.llm.verl.trainer import STATE_FILE, EntropicPPOTrainer

KP, KI, SETPOINT = 0.5, 0.1, 2.0
PI = {"law": {"name": "pi", "kp": KP, "ki": KI, "setpoint": SETPOINT, "output_min": -1.0, "output_max": 1.0,
              "anti_windup": "clamp"},
      "actuator": {"name": "entropy_coeff"}, "sensor": {"name": "entropy/mean"}}


def _verl_metrics(seed: int, mode: str = "token-mean") -> dict[str, float]:
    """The step's metrics as verl's ``_compute_old_log_prob`` leaves them: ``actor/entropy`` of the batch."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(20)[None, :] < torch.randint(1, 21, (16,), generator=g)[:, None]).float()
    entropy = 3 * torch.rand(16, 20, generator=g)
    return {"actor/entropy": agg_loss(loss_mat=entropy, loss_mask=mask, loss_agg_mode=mode,
                                      loss_scale_factor=None).item(),
            "actor/entropy_token_mean": float((entropy * mask).sum() / mask.sum()),  # the test's own reference
            "perf/mfu/actor_infer": 0.3}


def _hook() -> KnobHook:
    return KnobHook(ControllerConfig.from_dict(PI), Control(), "token-mean")


def test_the_knob_moves_as_the_pi_law_says_for_verls_entropy() -> None:
    hook = _hook()
    first, second = _verl_metrics(0), _verl_metrics(1)
    errors = [SETPOINT - m["actor/entropy_token_mean"] for m in (first, second)]
    assert hook.update(first) == {"entropy_coeff": pytest.approx(KP * errors[0])}
    assert hook.update(second) == {"entropy_coeff": pytest.approx(KP * errors[1] + KI * errors[0])}
    assert hook.metrics["entropic/control/entropy_coeff"] == pytest.approx(KP * errors[1] + KI * errors[0])
    assert hook.metrics["entropic/controller/measurement"] == pytest.approx(second["actor/entropy_token_mean"])


@pytest.mark.parametrize("mode", ["seq-mean-token-mean", "token-sum"])
def test_entropy_feedback_needs_the_token_mean(mode: str) -> None:
    with pytest.raises(ValueError, match=r"loss_agg_mode='token-mean'"):
        KnobHook(ControllerConfig.from_dict(PI), Control(), mode)


def test_a_sensor_verl_does_not_measure_is_refused_and_a_missing_metric_named() -> None:
    with pytest.raises(ValueError, match=r"controller.sensor.name='entropy/p50'.*allowed values: \['entropy/mean'\]"):
        KnobHook(ControllerConfig.from_dict({**PI, "sensor": {"name": "entropy/p50"}}), Control(), "token-mean")
    with pytest.raises(ValueError, match=r"verl logged no actor/entropy"):
        _hook().update({"perf/mfu/actor_infer": 0.3})


def test_state_round_trip_continues_the_trajectory() -> None:
    hook, resumed = _hook(), _hook()
    for seed in range(3):
        hook.update(_verl_metrics(seed))
    resumed.load_state_dict(hook.state_dict())
    assert resumed.update(_verl_metrics(3)) == hook.update(_verl_metrics(3))


def _trainer(tmp_path: Path, resume_mode: str = "auto") -> EntropicPPOTrainer:
    """The registered trainer without verl's workers: only the overridden methods run."""
    trainer = EntropicPPOTrainer.__new__(EntropicPPOTrainer)
    trainer.config = OmegaConf.create({"trainer": {"default_local_dir": str(tmp_path), "resume_mode": resume_mode,
                                                   "resume_from_path": str(tmp_path / "global_step_2")}})
    trainer.knob_hook, trainer.global_steps = _hook(), 2
    return trainer


def test_the_trainer_puts_the_step_knobs_into_the_batch(tmp_path: Path, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(PPOTrainerSync, "_update_actor", lambda self, batch, metrics: seen.append(batch) or batch)
    trainer, batch, metrics = _trainer(tmp_path), SimpleNamespace(extra_info={"temperature": 1.0}), _verl_metrics(0)
    trainer._update_actor(batch, metrics)
    assert seen == [batch] and batch.extra_info[KNOBS_KEY] == trainer.knob_hook.knobs
    assert metrics["entropic/control/entropy_coeff"] == batch.extra_info[KNOBS_KEY]["entropy_coeff"] != 0


@pytest.mark.parametrize("resume_mode", ["auto", "resume_path"])
def test_the_controller_is_checkpointed_with_the_step(tmp_path: Path, monkeypatch, resume_mode: str) -> None:
    monkeypatch.setattr(PPOTrainerSync, "_save_checkpoint", lambda self: None)
    monkeypatch.setattr(PPOTrainerSync, "_load_checkpoint", lambda self: setattr(self, "global_steps", 2))
    trainer = _trainer(tmp_path, resume_mode)
    trainer.knob_hook.update(_verl_metrics(0))
    trainer._save_checkpoint()
    assert (tmp_path / "global_step_2" / STATE_FILE).exists()
    resumed = _trainer(tmp_path, resume_mode)
    resumed._load_checkpoint()
    assert resumed.knob_hook.update(_verl_metrics(1)) == trainer.knob_hook.update(_verl_metrics(1))
    (tmp_path / "global_step_2" / STATE_FILE).unlink()
    with pytest.raises(ValueError, match=r"checkpoint without its state"):
        _trainer(tmp_path, resume_mode)._load_checkpoint()
