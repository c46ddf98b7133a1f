"""entropic's objective and entropy controller inside TRL 1.16's ``GRPOTrainer``: the route to many GPUs.

:class:`EntropicGRPOTrainer` replaces ``GRPOTrainer._compute_loss``: TRL still generates, scores rewards,
computes advantages, accumulates gradients and steps (accelerate, DeepSpeed, vLLM), while the loss of each
micro-batch is entropic's :class:`~entropic.objectives.Objective` under the controller's
:class:`~entropic.control.Control`. One implementation of the formulas serves the simulators, the LLM
backend and TRL.

Normalisers. TRL's ``loss_type`` decides how a micro-batch's token losses are normalised, and the
objective's ``loss_agg_mode`` must be the one that matches it (:data:`AGG_MODE_OF`); the micro-batch value
is then rescaled exactly as TRL does:

============  ==========================  ========================================================
loss_type     objective.loss_agg_mode     scale of the micro-batch value
============  ==========================  ========================================================
``grpo``      ``seq-mean-token-mean``     ``1 / gradient accumulation steps``
``bnpo``      ``token-mean``              ``1 / gradient accumulation steps``
``dr_grpo``   ``seq-mean-token-sum-norm`` ``1 / gradient accumulation steps``, ``S = max_completion_length``
``dapo``      ``token-mean``              ``N_micro / (num_items_in_batch / processes x accumulation /
                                          steps_per_generation)``: a token mean over the generation batch
============  ==========================  ========================================================

(entropic leaves empty completions out of its sequence means; TRL counts them: the two differ only on
batches holding an empty completion.)

Advantages stay TRL's (``inputs["advantages"]``: its ``scale_rewards`` and ``num_generations``); the
objective's policy loss, token modifiers and terms are entropic's. A KL term reads TRL's reference
log-probs, which TRL computes only when ``beta > 0`` (its own KL term is not added: the objective is the
loss).

Controller. The controller updates once per optimizer step, at ``accelerator.sync_gradients``, from the
token-weighted entropy of the whole accumulation window summed across processes (``entropy/mean``, or
``entropy/sampled_nll`` from the old log-probs); every micro-batch of a window uses the knobs set at the end
of the previous one. When it drives ``entropy_coeff``, TRL's own bonus (``entropy_coef``,
``use_adaptive_entropy``) must be off, or the bonus would count twice. Its state is saved in each
checkpoint (``entropic_controller.pt``) and restored with the optimizer; its metrics and knobs are logged
through TRL's logging as ``entropic/*``.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOTrainer

from entropic.control import Control
from entropic.controllers import ControllerConfig, build_controller
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.protocol import Observation

AGG_MODE_OF = {"grpo": "seq-mean-token-mean", "bnpo": "token-mean", "dr_grpo": "seq-mean-token-sum-norm",
               "dapo": "token-mean"}
"""TRL ``loss_type`` -> the objective's ``loss_agg_mode`` whose micro-batch value TRL's normaliser rescales."""
WINDOW_SENSORS = ("entropy/mean", "entropy/sampled_nll")
"""Sensors the adapter measures over an accumulation window."""
STATE_FILE = "entropic_controller.pt"


class EntropicGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose loss is entropic's objective, with an optional entropy controller.

    Parameters
    ----------
    *args, **kwargs
        ``GRPOTrainer``'s (model, reward functions, ``args=GRPOConfig(...)``, datasets, processing class).
    objective : ObjectiveConfig
        The objective; its ``loss_agg_mode`` must match ``args.loss_type`` (:data:`AGG_MODE_OF`).
    control : Control, optional
        Knob values before the controller acts (default: Control's defaults); kept as ``entropic_control``
        (transformers' ``Trainer.control`` is its callback state).
    controller : ControllerConfig, optional
        An entropic controller (``configs/controller/*.yaml`` as a :class:`ControllerConfig`); its sensor must be
        one of :data:`WINDOW_SENSORS`.
    """

    def __init__(self, *args: Any, objective: ObjectiveConfig, control: Control | None = None,
                 controller: ControllerConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        expected = AGG_MODE_OF.get(self.loss_type)
        if expected is None:
            raise ValueError(f"GRPOConfig.loss_type={self.loss_type!r} has no entropic aggregation; allowed: "
                             f"{sorted(AGG_MODE_OF)}")
        if objective.loss_agg_mode != expected:
            raise ValueError(f"objective.loss_agg_mode={objective.loss_agg_mode!r} does not match "
                             f"GRPOConfig.loss_type={self.loss_type!r}, whose normaliser needs {expected!r}")
        if objective.loss_agg_mode == "seq-mean-token-sum-norm" and objective.loss_scale_factor is None:
            raise ValueError("objective.loss_scale_factor must be set to GRPOConfig.max_completion_length for "
                             "loss_type='dr_grpo' (TRL divides by it)")
        self.objective = Objective(objective)
        self.entropic_control = control if control is not None else Control()
        self.controller = None if controller is None else build_controller(controller, 1, self.entropic_control)
        if self.controller is not None:
            if controller.sensor.name not in WINDOW_SENSORS:
                raise ValueError(f"controller.sensor.name={controller.sensor.name!r}: the TRL adapter measures "
                                 f"{list(WINDOW_SENSORS)} over an accumulation window")
            unread = self.controller.drives - self.objective.reads
            if unread:
                raise ValueError(f"the controller drives {sorted(unread)} but the objective does not read it")
            if "entropy_coeff" in self.controller.drives and self._entropy_bonus_enabled:
                raise ValueError("the controller drives entropy_coeff: set GRPOConfig.entropy_coef=0 and "
                                 "use_adaptive_entropy=False, or TRL's own bonus counts twice")
        self._window = torch.zeros(3, dtype=torch.float64)  # entropy sum, -old log-prob sum, tokens

    # ------------------------------------------------------------ the loss
    def _compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        mask = mask.to(torch.float32)
        needs_entropy = self.objective.needs_entropy or (
            self.controller is not None and "entropy/mean" in self.controller.required_observations)
        log_probs, entropy, _ = self._get_per_token_logps_and_entropies(
            model, torch.cat([prompt_ids, completion_ids], dim=1), torch.cat([prompt_mask, completion_mask], dim=1),
            completion_ids.size(1), compute_entropy=needs_entropy)
        advantages = inputs["advantages"]
        advantages = (advantages.unsqueeze(1) if advantages.dim() == 1 else advantages).expand_as(log_probs)
        old = inputs.get("old_per_token_logps")
        old = log_probs.detach() if old is None else old
        batch = PolicyBatch(log_probs=log_probs, old_log_probs=old, advantages=advantages * mask, mask=mask,
                            run=torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device), entropy=entropy,
                            ref_log_probs=inputs.get("ref_per_token_logps"),
                            sample_log_probs=inputs.get("sampling_per_token_logps"))
        loss, metrics = self.objective(batch, self.entropic_control)
        mode = "train" if self.model.training else "eval"
        for name, value in metrics.items():
            self._metrics[mode][f"entropic/{name}"].append(float(value.mean()))
        if mode == "train":
            self._observe(mask, entropy, old)
        return loss[0] * self._scale(mask, inputs, mode)

    def _scale(self, mask: torch.Tensor, inputs: dict[str, Any], mode: str) -> float | torch.Tensor:
        """TRL's normaliser of ``loss_type`` over the micro-batch value of the matching aggregation mode."""
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1
        if self.loss_type != "dapo":
            return 1.0 / accumulation
        normaliser = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
        if mode == "train":
            normaliser = normaliser * accumulation / self.args.steps_per_generation
        return mask.sum().clamp(min=1.0) / normaliser

    # ------------------------------------------------------------ the controller
    def _observe(self, mask: torch.Tensor, entropy: torch.Tensor | None, old: torch.Tensor) -> None:
        """Add this micro-batch to the window; at the window's end, update the controller from its totals."""
        if self.controller is None:
            return
        entropy_sum = 0.0 if entropy is None else float((entropy.detach() * mask).sum())
        self._window += torch.tensor([entropy_sum, float(-(old.detach() * mask).sum()), float(mask.sum())],
                                     dtype=torch.float64)
        if not self.accelerator.sync_gradients:
            return
        totals = self.accelerator.reduce(self._window.to(self.accelerator.device), reduction="sum").cpu()
        self._window.zero_()
        tokens = totals[2].clamp(min=1.0)
        values = {"entropy/sampled_nll": (totals[1] / tokens).reshape(1)}
        if entropy is not None:
            values["entropy/mean"] = (totals[0] / tokens).reshape(1)
        observation = Observation(step=self.state.global_step, values=values)
        self.entropic_control = self.controller.update(observation, self.entropic_control)
        for name, value in self.controller.metrics.items():
            self._metrics["train"][f"entropic/{name}"].append(float(value.mean()))
        for name in sorted(self.controller.drives):
            self._metrics["train"][f"entropic/control/{name}"].append(
                float(torch.as_tensor(getattr(self.entropic_control, name)).mean()))

    def _save_checkpoint(self, model: torch.nn.Module, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        if self.controller is not None and self.args.should_save:
            name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder = os.path.join(self._get_output_dir(trial=trial), name)
            torch.save({"control": self.entropic_control.to_dict(), "controller": self.controller.state_dict()},
                       os.path.join(folder, STATE_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            self.load_controller_state(checkpoint)

    def load_controller_state(self, checkpoint: str) -> None:
        """Restore the knobs and the controller saved in the TRL checkpoint directory ``checkpoint``."""
        path = os.path.join(checkpoint, STATE_FILE)
        if self.controller is not None and os.path.exists(path):
            state = torch.load(path, weights_only=True)
            self.entropic_control = Control(**state["control"])
            self.controller.load_state_dict(state["controller"])
