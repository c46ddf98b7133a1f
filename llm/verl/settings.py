"""The loss hook and the knob hook of a composed verl config, checked before any GPU is taken.

What the ``entropic`` trainer runs comes from one place per setting: verl's actor fields for what verl
has (``policy_loss.loss_mode``, ``loss_agg_mode``, ``loss_scale_factor``, ``kl_loss_type``, the knobs
of :data:`~entropic.llm.verl.knobs.VERL_KNOBS`) and entropic's top-level group for the rest::

    entropic:
      objective: {modifiers: [...], terms: [...]}    # and the parts' constants: what verl's actor lacks
      control: {...}                                 # the knobs verl has no field for
      controller: {law: ..., actuator: ..., sensor: ...}   # optional

Settings that would make the hook's loss differ from what verl's fields say are refused with a
``ValueError`` naming both sides: an ``entropy_coeff`` without the ``entropy`` term (verl would add a
bonus), ``use_kl_loss`` without a KL term or the reverse (verl computes the reference log-probs only
with it), an objective reading the entropy without ``calculate_entropy``, a controller driving a knob
no part of the objective reads, and a feedback controller in rollout-correction bypass mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from entropic.controllers import ControllerConfig
from entropic.llm.verl.knob_hook import KnobHook
from entropic.llm.verl.knobs import ACTOR, ENTROPIC_OBJECTIVE, GROUP, control_from_actor
from entropic.llm.verl.loss_hook import EntropicLoss
from entropic.llm.verl.routes import KL_TERMS, PREFIX
from entropic.objectives import POLICY_LOSSES, Objective, ObjectiveConfig

GROUP_KEYS = ("objective", "control", "controller")


def entropic_group(config: DictConfig) -> dict[str, Any]:
    """The ``entropic`` group of a composed verl config, as plain values (empty when absent)."""
    group = OmegaConf.to_container(config.get(GROUP) or OmegaConf.create({}), resolve=True)
    unknown = sorted(set(group) - set(GROUP_KEYS))
    if unknown:
        raise ValueError(f"{GROUP}.{unknown[0]} is not a setting; allowed: {list(GROUP_KEYS)}")
    misplaced = sorted(set(group.get("objective") or {}) - set(ENTROPIC_OBJECTIVE))
    if misplaced:
        raise ValueError(f"{GROUP}.objective.{misplaced[0]} is not set there: {GROUP}.objective holds "
                         f"{list(ENTROPIC_OBJECTIVE)}; the policy loss, aggregation and KL estimator are verl's "
                         f"{ACTOR}.policy_loss.loss_mode, loss_agg_mode, loss_scale_factor and kl_loss_type")
    return group


def objective_config(config: DictConfig) -> ObjectiveConfig:
    """The objective of a composed verl config: verl's actor fields and ``entropic.objective``."""
    actor = config.actor_rollout_ref.actor
    loss_mode = actor.policy_loss.loss_mode
    name = loss_mode.removeprefix(PREFIX)
    if name not in POLICY_LOSSES:
        raise ValueError(f"{ACTOR}.policy_loss.loss_mode={loss_mode!r} has no entropic policy loss; allowed values: "
                         f"{[PREFIX + n for n in POLICY_LOSSES.names()]}")
    return ObjectiveConfig(policy_loss=name, loss_agg_mode=actor.loss_agg_mode,
                           loss_scale_factor=actor.loss_scale_factor, kl_loss_type=actor.kl_loss_type,
                           **(entropic_group(config).get("objective") or {}))


def loss_hook(config: DictConfig) -> EntropicLoss:
    """The whole-loss hook of a composed verl config, its settings checked against verl's."""
    actor = config.actor_rollout_ref.actor
    objective = objective_config(config)
    terms = set(objective.terms)
    if actor.entropy_coeff != 0 and "entropy" not in terms:
        raise ValueError(f"{ACTOR}.entropy_coeff={actor.entropy_coeff} but {GROUP}.objective.terms has no 'entropy': "
                         f"add the term, or set entropy_coeff=0")
    if bool(actor.use_kl_loss) != bool(terms & set(KL_TERMS)):
        raise ValueError(f"{ACTOR}.use_kl_loss={actor.use_kl_loss} must be True exactly when {GROUP}.objective.terms "
                         f"has a KL term {list(KL_TERMS)} (verl computes the reference log-probs only with it); "
                         f"terms are {sorted(terms)}")
    if Objective(objective).needs_entropy and not actor.calculate_entropy:
        raise ValueError(f"the objective reads the token entropy: set {ACTOR}.calculate_entropy=True")
    return EntropicLoss(objective=objective, control=control_from_actor(actor, entropic_group(config).get("control")))


def knob_hook(config: DictConfig) -> KnobHook | None:
    """The controller of a composed verl config (``None`` without ``entropic.controller``), checked."""
    controller = entropic_group(config).get("controller")
    if controller is None:
        return None
    hook = loss_hook(config)
    knobs = KnobHook(ControllerConfig.from_dict(controller), hook.control, config.actor_rollout_ref.actor.loss_agg_mode)
    unread = knobs.controller.drives - Objective(hook.objective).reads
    if unread:
        raise ValueError(f"the controller drives {sorted(unread)} but the objective does not read it")
    if not knobs.controller.open_loop and _bypass_mode(config.algorithm):
        raise ValueError("algorithm.rollout_correction.bypass_mode=True computes no entropy before the actor "
                         "update, and the controller's feedback reads it")
    return knobs


def _bypass_mode(algorithm: Mapping[str, Any]) -> bool:
    correction = algorithm.get("rollout_correction") or {}
    return bool(correction.get("bypass_mode", False))
