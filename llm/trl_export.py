"""An entropic config as TRL 1.16 ``GRPOConfig`` keyword arguments and an adapter script (``entropic-export --to trl``).

:func:`trl_kwargs` maps what TRL itself must know to run the entropic method through
:class:`~entropic.llm.trl_adapter.EntropicGRPOTrainer`: the ``loss_type`` whose normaliser matches the
objective's aggregation (the inverse of :data:`~entropic.llm.trl_adapter.AGG_MODE_OF`; ``token-mean``
goes to ``dapo``), the clip range, the reference model (``beta > 0`` when a KL term reads the reference
log-probs), the group normalisation of TRL's advantages and the updates per generation. TRL's own entropy
bonus stays off (the adapter's objective owns it). What TRL cannot run is refused with a ``ValueError``:
an aggregation without a ``loss_type`` (``token-sum``, ``seq-mean-token-sum``) and advantage estimators
other than GRPO's (TRL computes its own advantages).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from entropic.llm.method import EntropicMethod, load_method

LOSS_TYPE_OF = {"seq-mean-token-mean": "grpo", "token-mean": "dapo", "seq-mean-token-sum-norm": "dr_grpo"}
"""objective.loss_agg_mode -> TRL ``loss_type`` (the adapter checks the pair against ``AGG_MODE_OF``)."""
GRPO_ESTIMATORS = ("grpo", "grpo_vectorized")
SCRIPT = '''"""Run the entropic config {config} in TRL 1.16 (written by entropic-export)."""

import json

from trl import GRPOConfig

from entropic.llm.method import entropic_parts
from entropic.llm.trl_adapter import EntropicGRPOTrainer

parts = entropic_parts({config!r})  # objective, knobs and controller
args = GRPOConfig(output_dir="outputs/trl", **json.load(open({kwargs!r})))
trainer = EntropicGRPOTrainer(model=..., reward_funcs=..., args=args, train_dataset=..., **parts)
trainer.train()
'''


def trl_kwargs(method: EntropicMethod) -> dict[str, Any]:
    """The ``GRPOConfig`` keyword arguments of ``method`` (add model, data and batch settings)."""
    objective, control = method.objective, method.control
    loss_type = LOSS_TYPE_OF.get(objective.loss_agg_mode)
    if loss_type is None:
        raise ValueError(f"objective.loss_agg_mode={objective.loss_agg_mode!r} has no TRL loss_type; allowed values: "
                         f"{sorted(LOSS_TYPE_OF)}")
    if method.advantage.adv_estimator not in GRPO_ESTIMATORS:
        raise ValueError(f"advantage.adv_estimator={method.advantage.adv_estimator!r} has no TRL equivalent: TRL "
                         f"computes its own group-normalised advantages ({list(GRPO_ESTIMATORS)})")
    kwargs: dict[str, Any] = {
        "loss_type": loss_type, "epsilon": float(control.clip_ratio_low),
        "epsilon_high": float(control.clip_ratio_high),
        "beta": float(control.kl_loss_coef) if {"kl", "unbiased_kl"} & set(objective.terms) else 0.0,
        "scale_rewards": "group" if method.advantage.norm_adv_by_std_in_grpo else "none",
        "num_iterations": method.trainer.ppo_epochs, "entropy_coef": 0.0, "use_adaptive_entropy": False}
    if loss_type == "dr_grpo":
        if objective.loss_scale_factor is None:
            raise ValueError("objective.loss_scale_factor must be set for loss_type='dr_grpo': it is TRL's "
                             "max_completion_length")
        kwargs["max_completion_length"] = int(objective.loss_scale_factor)
    return kwargs


def export_trl(config: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``trl_grpo_config.json`` (the keyword arguments) and ``train_trl.py`` for the entropic config
    ``config``."""
    kwargs = trl_kwargs(load_method(config))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"kwargs": out / "trl_grpo_config.json", "script": out / "train_trl.py"}
    files["kwargs"].write_text(json.dumps(kwargs, indent=2) + "\n")
    files["script"].write_text(SCRIPT.format(config=str(Path(config).resolve()),
                                             kwargs=str(files["kwargs"].resolve())))
    return {name: str(path) for name, path in files.items()}
