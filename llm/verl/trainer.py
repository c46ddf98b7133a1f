"""verl's synchronous PPO trainer with entropic's loss and controller: ``trainer.v1.trainer_mode=entropic``.

Registered with verl 0.9.1's trainer registry (``register_trainer``) when this module is imported; the
``entropic_trainer`` entry point of the ``verl.plugins`` group imports it in every process, so verl's
``TaskRunnerV1`` finds it by name. Nothing of verl is forked; the class overrides four methods of
``PPOTrainerSync``:

- ``init``: after verl builds the workers, installs the whole-loss hook on the actor
  (``actor_rollout_wg.set_loss_fn``, :class:`~entropic.llm.verl.loss_hook.EntropicLoss`);
- ``_update_actor``: updates the controller from the step's metrics (``actor/entropy`` of the batch about
  to be trained on, :class:`~entropic.llm.verl.knob_hook.KnobHook`) and puts the knobs into the batch's
  extra info, which reaches every data-parallel rank's loss (verl's ``ActorConfig`` is frozen);
- ``_save_checkpoint`` / ``_load_checkpoint``: the controller's state in each ``global_step_<n>`` folder
  (:data:`STATE_FILE`), restored on resume.

Both hooks are built from the composed config in ``__init__`` (:mod:`entropic.llm.verl.settings`), so an
inconsistent config fails before Ray takes any GPU.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from omegaconf import DictConfig
from verl.trainer.ppo.v1 import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from entropic.llm.verl.knobs import KNOBS_KEY
from entropic.llm.verl.routes import TRAINER_MODE
from entropic.llm.verl.settings import knob_hook, loss_hook

STATE_FILE = "entropic_controller.pt"


@register_trainer(TRAINER_MODE)
class EntropicPPOTrainer(PPOTrainerSync):
    """``PPOTrainerSync`` whose actor loss is entropic's objective, with an optional entropy controller."""

    def __init__(self, config: DictConfig) -> None:
        self.loss_hook = loss_hook(config)
        self.knob_hook = knob_hook(config)
        super().__init__(config)

    def init(self) -> None:
        super().init()
        self.actor_rollout_wg.set_loss_fn(self.loss_hook)

    def _update_actor(self, batch: Any, metrics: dict[str, Any]) -> Any:
        if self.knob_hook is not None:
            batch.extra_info[KNOBS_KEY] = self.knob_hook.update(metrics)
            metrics.update(self.knob_hook.metrics)
        return super()._update_actor(batch, metrics=metrics)

    def _step_folder(self, resuming: bool) -> str:
        """The checkpoint folder of ``global_steps``: the one verl saves to, or the one it resumes from."""
        trainer = self.config.trainer
        if resuming and trainer.resume_mode == "resume_path":
            return trainer.resume_from_path
        return os.path.join(trainer.default_local_dir, f"global_step_{self.global_steps}")

    def _save_checkpoint(self) -> None:
        if self.knob_hook is not None:  # before verl marks the step as the latest checkpoint
            folder = self._step_folder(resuming=False)
            os.makedirs(folder, exist_ok=True)
            torch.save(self.knob_hook.state_dict(), os.path.join(folder, STATE_FILE))
        super()._save_checkpoint()

    def _load_checkpoint(self) -> None:
        super()._load_checkpoint()
        if self.knob_hook is None or self.global_steps == 0:
            return
        path = os.path.join(self._step_folder(resuming=True), STATE_FILE)
        if not os.path.exists(path):
            raise ValueError(f"resuming a run with entropic.controller from a checkpoint without its state: {path} "
                             f"is missing")
        self.knob_hook.load_state_dict(torch.load(path, weights_only=True))
