"""Where each entropic knob and objective setting lives in a verl config: one place per setting.

A :class:`~entropic.control.Control` field verl has (``clip_ratio_high``, ``entropy_coeff``, ...) is
read from verl's own actor field (:data:`VERL_KNOBS`), so a command-line override of that field is
what the loss uses; the others (:data:`ENTROPIC_KNOBS`: ``pos_weight``, ``top_entropy_quantile``,
``entropic_alpha``, ...) live in entropic's top-level group, ``entropic.control`` (verl's actor
dataclass rejects unknown fields). A controller's per-step values travel in the batch's extra info
under :data:`KNOBS_KEY` and override both. Likewise the objective: verl's actor fields hold its policy
loss, aggregation and KL estimator (:data:`VERL_OBJECTIVE`), ``entropic.objective`` the rest
(:data:`ENTROPIC_OBJECTIVE`: modifiers, terms and their constants).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from entropic.control import Control, control_fields, control_from_mapping
from entropic.objectives import ObjectiveConfig

VERL_KNOBS: dict[str, str] = {
    "entropy_coeff": "entropy_coeff",
    "clip_ratio_low": "clip_ratio_low",
    "clip_ratio_high": "clip_ratio_high",
    "clip_ratio_c": "clip_ratio_c",
    "kl_loss_coef": "kl_loss_coef",
    "clip_cov_ratio": "policy_loss.clip_cov_ratio",
    "clip_cov_lb": "policy_loss.clip_cov_lb",
    "clip_cov_ub": "policy_loss.clip_cov_ub",
    "kl_cov_ratio": "policy_loss.kl_cov_ratio",
    "ppo_kl_coef": "policy_loss.ppo_kl_coef",
}
"""Control field -> its field under verl's ``actor_rollout_ref.actor``."""
ENTROPIC_KNOBS = tuple(name for name in control_fields() if name not in VERL_KNOBS)
"""Control fields verl has no field for: set under ``entropic.control``."""
VERL_OBJECTIVE: dict[str, str] = {"policy_loss": "policy_loss.loss_mode", "loss_agg_mode": "loss_agg_mode",
                                  "loss_scale_factor": "loss_scale_factor", "kl_loss_type": "kl_loss_type"}
"""ObjectiveConfig field -> its field under verl's ``actor_rollout_ref.actor`` (the policy loss as ``entropic_<name>``
or verl's own name)."""
ENTROPIC_OBJECTIVE = tuple(f.name for f in dataclasses.fields(ObjectiveConfig) if f.name not in VERL_OBJECTIVE)
"""ObjectiveConfig fields verl has no field for: set under ``entropic.objective``."""
KNOBS_KEY = "entropic_knobs"
"""Key of a step's knobs (a dict Control field -> float) in a batch's extra info."""
ACTOR = "actor_rollout_ref.actor"
"""verl's actor config, in the composed ``ppo_trainer`` config."""
GROUP = "entropic"
"""entropic's own top-level group of the composed verl config."""


def actor_value(actor: Mapping[str, Any], path: str) -> Any:
    """The value at the dotted ``path`` of verl's actor config (its dataclass or its DictConfig)."""
    value: Any = actor
    for part in path.split("."):
        value = value.get(part)
    return value


def control_from_actor(actor: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Control:
    """The knobs of verl's actor config, with ``extra`` (``entropic.control``) for those verl lacks.

    A ``clip_ratio_low`` / ``clip_ratio_high`` of ``None`` falls back to ``clip_ratio``, as verl's losses do.
    A knob of :data:`VERL_KNOBS` in ``extra`` raises ``ValueError`` naming verl's field: it has one place.
    """
    extra = dict(extra or {})
    misplaced = sorted(set(extra) & set(VERL_KNOBS))
    if misplaced:
        name = misplaced[0]
        raise ValueError(f"entropic.control.{name} is verl's {ACTOR}.{VERL_KNOBS[name]}: set it there "
                         f"(entropic.control holds only {list(ENTROPIC_KNOBS)})")
    values = {name: actor_value(actor, path) for name, path in VERL_KNOBS.items()}
    for side in ("clip_ratio_low", "clip_ratio_high"):
        if values[side] is None:
            values[side] = actor.get("clip_ratio")
    return control_from_mapping({**values, **extra}, num_runs=1)
