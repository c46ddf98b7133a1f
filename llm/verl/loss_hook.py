"""The whole actor loss in place of verl's ``ppo_loss``: entropic's objective, with the step's knobs.

verl 0.9.1's engine worker computes each micro-batch's loss with a function set by
``ActorRolloutRefWorker.set_loss_fn`` (by default ``workers/utils/losses.py::ppo_loss``: a registered
policy loss, plus ``entropy_coeff`` times the aggregated entropy, plus ``kl_loss_coef`` times the
aggregated KL to the reference). :class:`EntropicLoss` replaces it with the whole of entropic's
objective (policy loss, token modifiers such as ``top_entropy``, terms such as ``entropy``, ``kl``,
``unbiased_kl``, ``entropic``), which sees the model's entropy and the reference log-probs a registered
policy loss never gets, and normalises it as ``ppo_loss`` does (global-batch tokens or rows, times the
data-parallel size). With the objective's parts that verl has, its value and gradient are ``ppo_loss``'s.

Knobs: the base values are verl's actor fields and ``entropic.control``
(:func:`~entropic.llm.verl.knobs.control_from_actor`); a controller's values for the step arrive in the
micro-batch's non-tensor data under :data:`~entropic.llm.verl.knobs.KNOBS_KEY` (the trainer puts them in
the batch's extra info on the driver, so every data-parallel rank reads the same values) and override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.metric import AggregationType, Metric
from verl.workers.utils.padding import no_padding_2_padding

from entropic.control import Control
from entropic.llm.verl.evaluate import aggregated, evaluate, policy_batch
from entropic.llm.verl.knobs import ACTOR, KNOBS_KEY
from entropic.llm.verl.policy_losses import refuse_rollout_weights
from entropic.objectives import Objective, ObjectiveConfig

GLOBAL_FIELDS = ("dp_size", "batch_num_tokens", "global_batch_size")
"""verl's global-batch numbers in a micro-batch's non-tensor data."""
OPTIONAL_FIELDS = ("ref_log_prob", "rollout_log_probs")
"""Batch fields verl adds when it computes them: the reference's (``use_kl_loss``) and the rollout engine's
log-probs (``rollout.calculate_log_probs``, the sampler's, which ``off_policy_mask`` compares with)."""


@dataclass(frozen=True)
class EntropicLoss:
    """verl's loss function ``(model_output, data, dp_group) -> (loss, metrics)`` computing entropic's objective.

    Attributes
    ----------
    objective : ObjectiveConfig
        The objective; its ``loss_agg_mode``, ``loss_scale_factor`` and ``kl_loss_type`` are verl's actor's.
    control : Control
        The base knobs (verl's actor fields and ``entropic.control``).
    """

    objective: ObjectiveConfig
    control: Control

    @cached_property
    def _objective(self) -> Objective:
        return Objective(self.objective)

    def __call__(self, model_output: dict[str, torch.Tensor], data: TensorDict,
                 dp_group: Any = None) -> tuple[torch.Tensor, dict[str, Metric]]:
        """The micro-batch's loss.

        Parameters
        ----------
        model_output : dict
            ``log_probs`` (and ``entropy`` when the actor computes it): verl's unpadded ``[total_nnz]``
            tensors over prompt and response tokens.
        data : TensorDict
            The micro-batch: ``response_mask``, ``old_log_probs``, ``advantages`` ``[B, T]`` (and
            :data:`OPTIONAL_FIELDS` when verl computes them), the layout verl un-pads with, the
            global-batch numbers (:data:`GLOBAL_FIELDS`) and the step's knobs (:data:`KNOBS_KEY`).
        dp_group : optional
            The data-parallel group (unused: verl has summed the global numbers already).

        Returns
        -------
        loss : FloatTensor []
        metrics : dict[str, Metric]
            The objective's metrics: aggregated losses summed over micro-batches when normalised
            globally (as ``ppo_loss`` does), the others averaged.
        """
        refuse_rollout_weights(data.get("rollout_is_weights", None))
        log_prob = no_padding_2_padding(model_output["log_probs"], data)
        entropy = model_output.get("entropy", None)
        if entropy is None and self._objective.needs_entropy:
            raise ValueError(f"the objective reads the token entropy: set {ACTOR}.calculate_entropy=True")
        entropy = None if entropy is None else no_padding_2_padding(entropy, data)
        fields = ["response_mask", "old_log_probs", "advantages",
                  *(name for name in OPTIONAL_FIELDS if name in data.keys())]
        tensors = data.select(*fields).to_padded_tensor()
        global_info = {name: data[name] for name in GLOBAL_FIELDS}
        global_info["loss_scale_factor"] = self.objective.loss_scale_factor
        knobs = tu.get_non_tensor_data(data=data, key=KNOBS_KEY, default=None)
        control = self.control.replace(**knobs) if knobs else self.control
        batch = policy_batch(tensors["old_log_probs"], log_prob, tensors["advantages"], tensors["response_mask"],
                             entropy, *(tensors.get(name, None) for name in OPTIONAL_FIELDS))
        loss, values = evaluate(self._objective, batch, control, global_info)
        normalised_globally = (global_info["dp_size"] > 1 or any(global_info[name] is not None for name in
                                                                 ("batch_num_tokens", "global_batch_size",
                                                                  "loss_scale_factor")))
        summed = AggregationType.SUM if normalised_globally else AggregationType.MEAN
        scaled = aggregated(self._objective)
        metrics = {name: Metric(summed if name in scaled else AggregationType.MEAN, value)
                   for name, value in values.items()}
        return loss, metrics
