"""The TRL adapter: its loss is TRL's own for each loss_type, and the controller steps with the optimizer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from hydra import compose, initialize_config_module
from llm_tiny import TINY
from trl import GRPOConfig, GRPOTrainer

from entropic.control import Control
from entropic.controllers import controller_config_from_dict
from entropic.experiment import build_trainer
from entropic.llm import HFConfig
from entropic.llm.method import entropic_parts
from entropic.llm.model import tiny_model
from entropic.llm.tokenizer import character_tokenizer
from entropic.llm.trl_adapter import AGG_MODE_OF, EntropicGRPOTrainer
from entropic.objectives import ObjectiveConfig
from entropic.tuning.study.batch import Method
from entropic.tuning.study.export import export_method
from entropic.tuning.study.space import load_preset

MAX_LEN = 5
PROMPTS = ["A1+2=", "S12,07,33=", "C3,4,7:025=", "A9+9="]


def _trainer(tmp_path: Path, loss_type: str, objective: ObjectiveConfig, control: Control | None = None,
             controller=None, **settings) -> EntropicGRPOTrainer:
    tokenizer = character_tokenizer()
    model = tiny_model(HFConfig(**TINY), tokenizer)
    settings = dict(output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4,
                    max_completion_length=MAX_LEN, loss_type=loss_type, beta=0.0, epsilon=0.2, epsilon_high=0.28,
                    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to=[], logging_strategy="no",
                    save_strategy="no", learning_rate=1e-3, seed=0) | settings
    args = GRPOConfig(**settings)
    dataset = Dataset.from_list([{"prompt": p} for p in PROMPTS * 4])
    return EntropicGRPOTrainer(model=model, reward_funcs=lambda completions, **_: [float(len(c) % 2) for c in
                                                                                   completions],
                               args=args, train_dataset=dataset, processing_class=tokenizer, objective=objective,
                               control=control or Control(clip_ratio_low=0.2, clip_ratio_high=0.28),
                               controller=controller)


def _inputs(trainer: EntropicGRPOTrainer) -> dict[str, torch.Tensor]:
    """A micro-batch as TRL's generation makes it: left-padded prompts, completions of unequal lengths."""
    generator = torch.Generator().manual_seed(0)
    batch = trainer.processing_class(PROMPTS * 2, padding=True, return_tensors="pt")
    B = batch["input_ids"].shape[0]
    completion_ids = torch.randint(4, 99, (B, MAX_LEN), generator=generator)
    lengths = torch.tensor([5, 3, 1, 4, 2, 5, 4, 3])
    completion_mask = (torch.arange(MAX_LEN) < lengths.unsqueeze(1)).long()
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, torch.cat([batch["input_ids"], completion_ids], 1),
            torch.cat([batch["attention_mask"], completion_mask], 1), MAX_LEN)
    return {"prompt_ids": batch["input_ids"], "prompt_mask": batch["attention_mask"],
            "completion_ids": completion_ids, "completion_mask": completion_mask,
            "advantages": torch.randn(B, generator=generator),
            "old_per_token_logps": logps + 0.1 * torch.randn(logps.shape, generator=generator),
            "num_items_in_batch": completion_mask.sum() * 3}


@pytest.mark.parametrize("loss_type", sorted(AGG_MODE_OF))
def test_the_loss_and_gradient_are_trls_own_for_every_loss_type(loss_type: str, tmp_path: Path) -> None:
    objective = ObjectiveConfig(policy_loss="vanilla", loss_agg_mode=AGG_MODE_OF[loss_type],
                                loss_scale_factor=MAX_LEN if loss_type == "dr_grpo" else None)
    trainer = _trainer(tmp_path, loss_type, objective, gradient_accumulation_steps=2, steps_per_generation=3)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 2
    inputs = _inputs(trainer)
    losses, grads = [], []
    for compute in (GRPOTrainer._compute_loss, EntropicGRPOTrainer._compute_loss):
        trainer.model.zero_grad()
        loss = compute(trainer, trainer.model, inputs)
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in trainer.model.parameters()])
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-7)
    for mine, theirs in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-7)


def test_a_mismatched_aggregation_or_a_double_bonus_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"objective.loss_agg_mode='token-mean' does not match "
                                         r"GRPOConfig.loss_type='grpo', whose normaliser needs 'seq-mean-token-mean'"):
        _trainer(tmp_path, "grpo", ObjectiveConfig(loss_agg_mode="token-mean"))
    controller = controller_config_from_dict({"law": {"name": "pi", "kp": 0.1, "ki": 0.0, "setpoint": 1.0},
                                              "actuator": {"name": "entropy_coeff"},
                                              "sensor": {"name": "entropy/mean"}})
    with pytest.raises(ValueError, match=r"set GRPOConfig.entropy_coef=0"):
        _trainer(tmp_path, "dapo", ObjectiveConfig(terms=["entropy"]), controller=controller, entropy_coef=0.01)


def test_the_controller_updates_once_per_optimizer_step_and_is_checkpointed(tmp_path: Path) -> None:
    controller = controller_config_from_dict({"law": {"name": "pi", "kp": 0.5, "ki": 0.1, "setpoint": 6.0,
                                                      "output_min": -1.0, "output_max": 1.0,
                                                      "anti_windup": "clamp"},
                                              "actuator": {"name": "entropy_coeff"},
                                              "sensor": {"name": "entropy/mean"}})
    trainer = _trainer(tmp_path, "dapo", ObjectiveConfig(terms=["entropy"]), controller=controller, max_steps=3,
                       gradient_accumulation_steps=2, save_strategy="steps", save_steps=3)
    updates = []
    update = trainer.controller.update
    trainer.controller.update = lambda observation, control: updates.append(observation) or update(observation,
                                                                                                     control)
    trainer.train()
    assert len(updates) == 3  # one per optimizer step, not per micro-batch
    entropy = float(updates[-1]["entropy/mean"])
    assert 0 < entropy <= math.log(99) < 6.0
    assert float(trainer.entropic_control.entropy_coeff) > 0  # below the setpoint: the bonus grows
    saved = torch.load(tmp_path / "checkpoint-3" / "entropic_controller.pt", weights_only=True)
    assert float(saved["control"]["entropy_coeff"]) == float(trainer.entropic_control.entropy_coeff)
    resumed = _trainer(tmp_path, "dapo", ObjectiveConfig(terms=["entropy"]), controller=controller, max_steps=4,
                       gradient_accumulation_steps=2)
    seen = []
    update = resumed.controller.update
    resumed.controller.update = lambda observation, control: seen.append(control) or update(observation, control)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    assert len(seen) == 1 and float(seen[0].entropy_coeff) == float(saved["control"]["entropy_coeff"])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_a_tuned_entropic_config_runs_unchanged_in_trl(make_config_dir, tmp_path: Path) -> None:
    """The objective, knobs and controller of an entropic run config (here a bandit run's config.yaml) drive TRL."""
    parts = entropic_parts(make_config_dir("method=entropy_bonus", "controller=pi_entropy_coeff",
                                           "controller.law.setpoint=3.0", "control.clip_ratio_high=0.28"))
    assert parts["controller"].law.setpoint == 3.0 and float(parts["control"].clip_ratio_high) == 0.28
    trainer = _trainer(tmp_path, "dapo", **parts, max_steps=1)
    trainer.train()
    assert float(trainer.entropic_control.entropy_coeff) != 0.0


@pytest.fixture
def make_config_dir(tmp_path: Path):
    """``make_config_dir(*overrides)``: the ``config.yaml`` entropic-train writes for a bandit run."""

    def make(*overrides: str) -> Path:
        with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
            cfg = compose(config_name="train", overrides=["backend.num_prompts=8", *overrides])
        build_trainer(cfg, tmp_path / "run")
        return tmp_path / "run" / "config.yaml"

    return make


def test_the_config_a_study_exports_for_its_best_trial_loads(tmp_path: Path) -> None:
    method = Method(objective={"terms": ["entropy"]}, control={"entropy_coeff": 0.01},
                    controller=load_preset("controller", "pi_entropy_coeff"))
    exported = export_method(method, tmp_path, "tuned_s", {"backend": {"_target_": "entropic.sims.make_backend"},
                                                            "seed": 3}, "s", 7, "tracking_error=0.1")
    parts = entropic_parts(exported["files"]["config"])
    assert parts["objective"].terms == ["entropy"] and float(parts["control"].entropy_coeff) == 0.01
    assert parts["controller"].law.kp == load_preset("controller", "pi_entropy_coeff")["law"]["kp"]
