"""Generated bad configs through every CLI's validation: each is refused, naming the field, before any work.

For each CLI the cases walk the fields of its config dataclasses (``RunConfig``, ``TrainerConfig``,
``ObjectiveConfig``, ``AdvantageConfig``, ``Control``, the controller configs, ``BanditConfig``,
``TuneConfig``, ``DesignConfig``) and the options of ``entropic-laws``, and make, with a seeded
generator, values that must be refused: wrong types, numbers out of range, non-finite numbers,
unknown choice names and keys, per-run lists of the wrong length and entropy targets no policy
reaches. The config is composed and validated in process with the CLI's own functions; the first
step of real work (a training step, the study database, an experiment, a claim run) is replaced by
a stub that fails the test, so an accepted bad value shows as a failure instead of running.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException, InstantiationException
from omegaconf import DictConfig

from entropic.cli import laws as laws_cli
from entropic.cli.train import train
from entropic.control import Control
from entropic.controllers import ACTUATORS
from entropic.curriculum import CurriculumConfig
from entropic.experiment import build_trainer
from entropic.group_filter import FilterGroupsConfig
from entropic.loop import Trainer, TrainerConfig
from entropic.objectives.registry import MODIFIERS, TERMS
from entropic.tuning.design import cli as design_cli
from entropic.tuning.study import cli as tune_cli


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad config: the overrides (or command-line arguments) and the field its error must name."""

    field: str
    args: tuple[str, ...]
    hidden: str | None = None  # text the error must not show (a password)

    @property
    def id(self) -> str:
        return " ".join(self.args)


class WorkStarted(Exception):
    """Raised by the stubs of the first real work: the bad config was accepted."""


def _work_started(*args: Any, **kwargs: Any) -> NoReturn:
    raise WorkStarted("the bad config was accepted: real work started")


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def _message(error: BaseException | None) -> str:
    """The error with its causes, as the CLIs report it (Hydra's wrappers show their cause)."""
    parts = []
    while error is not None and len(parts) < 6:
        parts.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def _assert_names(message: str, case: Case) -> None:
    """``message`` names the case's field: its dotted key or at least its last component, as a whole word."""
    pattern = rf"(?<![\w]){re.escape(case.field.split('.')[-1])}(?![\w])"
    assert re.search(pattern, message, re.IGNORECASE), f"the error does not name {case.field!r}: {message}"
    if case.hidden is not None:
        assert case.hidden not in message, f"the error shows {case.hidden!r}: {message}"


# Generated values -------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    """``value`` as a Hydra override value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf") if not math.isfinite(value) \
            else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _word(rng: random.Random) -> str:
    """A name no registry, choice or config holds (and no YAML boolean or null)."""
    return "".join(rng.choice("qxzjkvw") for _ in range(rng.randint(4, 7)))


def _below(rng: random.Random, low: float) -> float:
    return round(low - rng.uniform(0.01, 5.0), 3)


def _above(rng: random.Random, high: float) -> float:
    return round(high + rng.uniform(0.01, 5.0), 3)


def _some(rng: random.Random, values: list[Any], keep: int) -> list[Any]:
    """``keep`` of ``values`` drawn at random, in their order (the file stays fast)."""
    return [values[i] for i in sorted(rng.sample(range(len(values)), min(keep, len(values))))]


def _int_field(rng: random.Random, low: int, keep: int = 3) -> list[Any]:
    """Bad values of an integer field with minimum ``low``: below it, a fraction, a word, a list, NaN."""
    return _some(rng, [low - 1, low - rng.randint(2, 500), low + 0.5, _word(rng), [low, low + 1], math.nan], keep)


def _real_field(rng: random.Random, low: float | None, high: float | None, *, open_low: bool = False,
                open_high: bool = False, keep: int = 3) -> list[Any]:
    """Bad values of a real field in ``[low, high]`` (``None``: unbounded; open ends refuse the bound)."""
    values: list[Any] = [math.nan, _word(rng)]
    if low is not None:
        values += [_below(rng, low), -math.inf] + ([low] if open_low else [])
    if high is not None:
        values += [_above(rng, high), math.inf] + ([high] if open_high else [])
    return _some(rng, values, keep)


def _choice_field(rng: random.Random) -> list[Any]:
    """Bad values of a string choice: an unknown name, a number, a list."""
    return [_word(rng), rng.randint(2, 99), [_word(rng)]]


def _cases(field: str, path: str, values: list[Any], *base: str) -> Iterator[Case]:
    for value in values:
        yield Case(field, (*base, f"{path}={_fmt(value)}"))


def _unique(cases: Iterator[Case]) -> list[Case]:
    seen: dict[tuple[str, ...], Case] = {}
    for case in cases:
        seen.setdefault(case.args, case)
    return list(seen.values())


# entropic-train ---------------------------------------------------------------------------------------------

TRAIN_BASE = ["trainer.tensorboard=false", "trainer.checkpoint_every=0", "trainer.eval_every=0",
              "backend.num_prompts=8", "backend.group_size=4"]
"""Small and fast: 8 prompts of 4 samples on the default 32-arm bandit (max entropy log 32 = 3.47 nats)."""

LOG_ARMS = math.log(32)
ADVANTAGE_PRESETS = ("grpo", "rloo", "opo", "dr_grpo")

CONTROLLER_BASES = {
    "pi": ("controller=pi_entropy_coeff", "method=entropy_bonus"),
    "skywork": ("controller=skywork_or1", "method=entropy_bonus"),
    "entropic_pi": ("controller=entropic_pi", "method=entropic"),
    "linear": ("controller=linear_schedule", "method=entropy_bonus"),
    "step": ("controller=step_schedule", "trainer.ppo_epochs=2"),
    "constant": ("controller=constant", "method=entropy_bonus"),
}
"""Valid controller configs (``test_train_bases_build``) that the controller cases spoil one field of."""


def _train_run_cases(rng: random.Random) -> Iterator[Case]:
    yield from _cases("seed", "seed", [-rng.randint(1, 99), _word(rng), [0, 1], 0.5])
    yield from _cases("num_runs", "num_runs", [0, -rng.randint(1, 9), _word(rng), 1.5])
    for runs in (1, 3):
        wrong = rng.choice([n for n in (1, 2, 4, 5) if n != runs])
        yield Case("run_seeds", (f"num_runs={runs}", f"run_seeds={_fmt(list(range(wrong)))}"))
    yield Case("run_seeds", (f"run_seeds={_word(rng)}",))
    yield Case("resume", (f"resume=no_such_run_{_word(rng)}",))
    word = _word(rng)
    yield Case(word, (f"+{word}={rng.randint(1, 9)}",))


def _train_trainer_cases(rng: random.Random) -> Iterator[Case]:
    for name, low in (("steps", 1), ("ppo_epochs", 1), ("eval_every", 0), ("checkpoint_every", 0),
                      ("histogram_every", 0), ("reference_reset_every", 0), ("ppo_mini_batch_size", 1),
                      ("ppo_micro_batch_size", 1)):
        yield from _cases(f"trainer.{name}", f"trainer.{name}", _int_field(rng, low))
    for name in ("tensorboard", "log_entropy", "reference_reset_optimizer"):
        yield from _cases(f"trainer.{name}", f"trainer.{name}", _some(rng, [_word(rng), [True, False]], 1))
    yield Case("trainer.reference_reset_optimizer", ("trainer.reference_reset_optimizer=true",))
    word = _word(rng)
    yield Case(f"trainer.{word}", (f"+trainer.{word}={rng.randint(1, 99)}",))


def _train_objective_cases(rng: random.Random) -> Iterator[Case]:
    for name in ("policy_loss", "loss_agg_mode", "kl_loss_type"):
        yield from _cases(f"objective.{name}", f"objective.{name}", _choice_field(rng))
    yield from _cases("objective.loss_scale_factor", "objective.loss_scale_factor",
                      _some(rng, [0.0, _below(rng, 0.0), math.nan, -math.inf, _word(rng), [1.0, 2.0]], 3))
    for name, registry in (("modifiers", MODIFIERS), ("terms", TERMS)):
        known = rng.choice(registry.names())
        yield from _cases(f"objective.{name}", f"objective.{name}",
                          _some(rng, [[_word(rng)], [known, _word(rng)], [known, known], _word(rng),
                                      [rng.randint(2, 9)]], 3))
    word = _word(rng)
    yield Case(f"objective.{word}", (f"+objective.{word}=1",))


def _train_advantage_cases(rng: random.Random) -> Iterator[Case]:
    yield from _cases("advantage.adv_estimator", "advantage.adv_estimator", _choice_field(rng))
    yield from _cases("advantage.gamma", "advantage.gamma", _real_field(rng, 0.0, 1.0))
    yield from _cases("advantage.beta_rank", "advantage.beta_rank", _real_field(rng, 0.0, 1.0))
    yield from _cases("advantage.epsilon", "advantage.epsilon",
                      _some(rng, [0.0, _below(rng, 0.0), math.nan, -math.inf, _word(rng)], 3))
    yield from _cases("advantage.norm_adv_by_std_in_grpo", "advantage.norm_adv_by_std_in_grpo", [_word(rng)])
    yield Case("advantage.adv_estimator", (f"advantage={rng.choice(ADVANTAGE_PRESETS)}",
                                           f"advantage.adv_estimator={_word(rng)}"))
    word = _word(rng)
    yield Case(f"advantage.{word}", (f"+advantage.{word}=0.5",))


def _train_control_cases(rng: random.Random) -> Iterator[Case]:
    for f in dataclasses.fields(Control):
        low, high = f.metadata["limits"]
        field, path = f"control.{f.name}", f"control.{f.name}"
        values: list[Any] = [_word(rng), {"a": 1}, True, math.nan]
        if math.isfinite(low):
            values += [_below(rng, low)] + ([low] if f.metadata["open_low"] else [])
        if math.isfinite(high):
            values += [_above(rng, high)] + ([high] if f.metadata["open_high"] else [])
        yield from _cases(field, path, _some(rng, values, 2))
        # a per-run list of the wrong length (valid values), and one of the right length holding a bad value
        wrong = rng.choice([1, 2, 4])
        yield Case(field, ("num_runs=3", f"{path}={_fmt([f.default] * wrong)}"))
        bad = [_word(rng), True, [f.default], math.nan]
        bad += ([_below(rng, low)] if math.isfinite(low) else []) + ([_above(rng, high)] if math.isfinite(high) else [])
        yield Case(field, ("num_runs=2", f"{path}={_fmt([f.default, rng.choice(bad)])}"))
    yield Case("control.clip_cov_lb", (f"control.clip_cov_lb={_above(rng, 5.0)}",))  # lb >= ub (5.0)
    word = _word(rng)
    yield Case(f"control.{word}", (f"+control.{word}=0.1",))


def _law_cases(rng: random.Random) -> Iterator[tuple[str, str, list[Any]]]:
    """``(controller base, law field, bad values)`` of every law family's fields."""
    for gain in ("kp", "ki", "kd"):
        yield "pi", gain, [_below(rng, 0.0), math.nan, math.inf, _word(rng)]
    yield "pi", "setpoint", [_below(rng, 0.0), math.nan, math.inf, _word(rng), _above(rng, LOG_ARMS)]
    yield "pi", "output_max", [math.nan, _word(rng), _below(rng, -1.0)]  # below output_min = -1
    yield "pi", "output_min", [math.nan, _word(rng), _above(rng, 1.0)]  # above output_max = 1
    yield "pi", "rate_limit", [0.0, _below(rng, 0.0), math.nan, _word(rng)]
    yield "pi", "derivative_tau", [_below(rng, 0.0), math.nan, math.inf, _word(rng)]
    yield "pi", "anti_windup", [_word(rng), rng.randint(2, 9)]
    yield "pi", "tracking_gain", [0.0, 2.0, _above(rng, 2.0), _below(rng, 0.0), math.nan, _word(rng)]
    yield "pi", "name", [_word(rng), "p"]  # 'p' with the preset's ki > 0
    yield "skywork", "target", [_below(rng, 0.0), math.nan, _word(rng), _above(rng, LOG_ARMS)]
    yield "skywork", "delta", [_below(rng, 0.0), math.nan, math.inf, _word(rng)]
    yield "skywork", "coef_min", [_above(rng, 0.005), math.nan]  # above coef_max = 0.005
    yield "skywork", "coef_init", [_above(rng, 0.005), _below(rng, 0.0), math.inf]
    yield "skywork", "coef_max", [_below(rng, 0.0), math.nan]
    yield "skywork", "strict", [_word(rng), rng.randint(2, 9)]
    yield "entropic_pi", "kp", [_below(rng, 0.0), math.nan, _word(rng)]
    yield "entropic_pi", "ki", [_below(rng, 0.0), math.inf]
    yield "entropic_pi", "target", [math.nan, _word(rng), _above(rng, LOG_ARMS)]
    yield "entropic_pi", "integral_scale", [0.0, _below(rng, 0.0), math.nan, math.inf, _word(rng)]
    yield "entropic_pi", "anti_windup", [_word(rng)]
    yield "entropic_pi", "tracking_gain", [0.0, 2.0]
    yield "linear", "steps", [0, -rng.randint(1, 99), 1.5, _word(rng)]
    yield "linear", "start", [math.nan, math.inf, _word(rng)]
    yield "linear", "end", [math.nan, -math.inf, _word(rng)]
    yield "linear", "milestones", [[rng.randint(1, 99)]]  # the step schedule's field
    yield "step", "milestones", [[200, 100], [-rng.randint(1, 99)], [1.5], [200, 300]]  # [200, 300]: 2 vs 1 value
    yield "step", "values", [[math.nan], [0.28, 0.3]]
    yield "constant", "value", [math.nan, math.inf, _word(rng)]


def _train_controller_cases(rng: random.Random) -> Iterator[Case]:
    for base, name, values in _law_cases(rng):
        yield from _cases(f"controller.law.{name}", f"controller.law.{name}", _some(rng, values, 2),
                          *CONTROLLER_BASES[base])
    pi = CONTROLLER_BASES["pi"]
    yield Case("setpoint_schedule", (*pi, "controller.law.setpoint_schedule={name:linear,start:1.0,end:1.2,steps:9}"))
    yield Case("controller.law.setpoint_schedule", (  # an unreachable end of the target's schedule
        *pi, "controller.law.setpoint=null",
        f"controller.law.setpoint_schedule={{name:linear,start:1.0,end:{_above(rng, LOG_ARMS)},steps:50}}"))
    for section in ("law", "actuator", "sensor"):
        word = _word(rng)
        yield Case(word, (*pi, f"+controller.{section}.{word}=1"))
    word = _word(rng)
    yield Case(word, (*pi, f"+controller.{word}=1"))
    yield from _cases("controller.actuator.name", "controller.actuator.name", [_word(rng), rng.randint(2, 9)], *pi)
    flat = rng.choice([n for n in ACTUATORS.names() if ACTUATORS.get(n).direction == 0])  # a feedback law needs
    yield Case("controller.actuator.name", (*pi, f"controller.actuator.name={flat}"))  # a declared direction
    yield from _cases("controller.actuator.bias", "controller.actuator.bias",
                      _some(rng, [math.nan, math.inf, _word(rng)], 2), *pi)
    yield from _cases("controller.sensor.name", "controller.sensor.name", [_word(rng), rng.randint(2, 9)], *pi)
    yield from _cases("controller.sensor.ema", "controller.sensor.ema",
                      _some(rng, [1.0, _above(rng, 1.0), _below(rng, 0.0), math.nan, _word(rng)], 2), *pi)
    # per-run lists of the wrong length, and per-run lists that disagree
    for name, value in (("kp", 0.3), ("ki", 0.05), ("setpoint", 1.5), ("output_max", 1.0)):
        wrong = rng.choice([2, 4])
        yield Case(f"controller.law.{name}", (*pi, "num_runs=3", f"controller.law.{name}={_fmt([value] * wrong)}"))
    yield Case("controller.law.ki", (*pi, "num_runs=3", "controller.law.kp=[0.1,0.2,0.3]",
                                     "controller.law.ki=[0.1,0.2]"))
    yield Case("controller.law.target", (*CONTROLLER_BASES["skywork"], "num_runs=2",
                                         "controller.law.target=[0.2,0.3,0.4]"))
    # targets above the log of a smaller vocabulary
    for base, name in (("pi", "setpoint"), ("skywork", "target"), ("entropic_pi", "target"), ("pi", "setpoint")):
        arms = rng.randint(3, 16)
        small = (f"backend.num_arms={arms}", "backend.num_correct=1", f"backend.init_entropy={math.log(arms) / 2:.3f}")
        target = round(math.log(arms) + rng.uniform(0.01, 1.0), 3)
        yield Case(f"controller.law.{name}", (*CONTROLLER_BASES[base], *small, f"controller.law.{name}={target}"))


def _train_backend_cases(rng: random.Random) -> Iterator[Case]:
    for name in ("num_prompts", "group_size", "seq_len", "rank"):
        yield from _cases(name, f"backend.{name}", _int_field(rng, 1, keep=2))
    yield from _cases("num_arms", "backend.num_arms", _int_field(rng, 2, keep=2))
    yield from _cases("num_correct", "backend.num_correct",
                      _some(rng, [0, 32, rng.randint(33, 99), _word(rng), 2.5], 3))  # in [1, num_arms = 32)
    yield from _cases("task_seed", "backend.task_seed", _some(rng, [_word(rng), 1.5, [0, 1]], 2))
    for name in ("mode", "parameterization", "optimizer", "dtype"):
        yield from _cases(name, f"backend.{name}", _some(rng, _choice_field(rng), 2))
    yield from _cases("init_entropy", "backend.init_entropy", _real_field(rng, 0.0, LOG_ARMS, open_low=True,
                                                                          open_high=True, keep=2))
    yield from _cases("init_accuracy", "backend.init_accuracy", _real_field(rng, 0.0, 1.0, open_low=True,
                                                                            open_high=True, keep=2))
    yield from _cases("difficulty_spread", "backend.difficulty_spread", _real_field(rng, 0.0, None, keep=2))
    yield from _cases("calibration_tol", "backend.calibration_tol", _real_field(rng, 0.0, 0.01, open_low=True, keep=2))
    yield from _cases("reward_correct", "backend.reward_correct", _real_field(rng, 0.0, 1.0, open_low=True, keep=2))
    yield from _cases("reward_wrong", "backend.reward_wrong",
                      [*_real_field(rng, 0.0, None, keep=1), 1.0])  # 1.0: not below reward_correct
    yield from _cases("lr", "backend.lr", _some(rng, [0.0, _below(rng, 0.0), math.nan, math.inf, _word(rng)], 3))
    for name in ("adam_beta1", "adam_beta2"):
        yield from _cases(name, f"backend.{name}", _real_field(rng, 0.0, 1.0, open_high=True, keep=2))
    yield from _cases("adam_eps", "backend.adam_eps", _some(rng, [0.0, _below(rng, 0.0), math.nan, _word(rng)], 2))
    yield from _cases("max_grad_norm", "backend.max_grad_norm",
                      _some(rng, [0.0, _below(rng, 0.0), math.nan, _word(rng)], 2))
    yield from _cases("eval_k", "backend.eval_k", _some(rng, [[], [0], [-rng.randint(1, 9)], [1, 2.5], _word(rng)], 3))
    for name in ("return_logits", "use_reference"):
        yield from _cases(name, f"backend.{name}", _some(rng, [_word(rng), [True]], 1))
    yield Case("seq_len", ("backend.mode=exact", f"backend.seq_len={rng.randint(4, 6)}"))  # 32**T responses
    for runs in (2, 3):
        wrong = rng.choice([n for n in (1, 2, 4) if n != runs])
        yield Case("lr", (f"num_runs={runs}", f"backend.lr={_fmt([16.0] * wrong)}"))
    yield Case("lr", ("num_runs=2", f"backend.lr=[16.0,{_word(rng)}]"))
    yield Case("lr", ("num_runs=2", "backend.lr=[16.0,-4.0]"))
    word = _word(rng)
    yield Case(word, (f"+backend.{word}=1",))


def _train_method_knob_cases(rng: random.Random) -> Iterator[Case]:
    """SEED-GRPO's, STEER's and LUFFY's config knobs (drawn last: the other generators' values stay as they were)."""
    yield from _cases("advantage.seed_alpha", "advantage.seed_alpha", _real_field(rng, 0.0, 1.0))
    yield from _cases("advantage.seed_alpha", "advantage.seed_alpha",
                      _some(rng, [_below(rng, 0.0), math.inf, math.nan, _word(rng)], 2),
                      "advantage.seed_scaling=exponential")
    yield from _cases("advantage.seed_scaling", "advantage.seed_scaling", _choice_field(rng))
    yield from _cases("advantage.seed_gamma", "advantage.seed_gamma",
                      _some(rng, [0.0, _below(rng, 0.0), math.nan, math.inf, _word(rng)], 3))
    yield from _cases("objective.steer_weight_min", "objective.steer_weight_min",
                      _real_field(rng, 0.0, 1.0, open_low=True))
    # LUFFY's share of demonstrations (a backend field; Control's off_policy_gamma is among the control cases)
    yield from _cases("off_policy_share", "backend.off_policy_share", _real_field(rng, 0.0, 1.0))
    yield from _cases("off_policy_share", "backend.off_policy_share", [round(rng.uniform(0.001, 0.06), 3)])
    yield Case("off_policy_share", ("backend.mode=exact", "backend.off_policy_share=0.5"))


def _train_filter_cases(rng: random.Random) -> Iterator[Case]:
    """Dynamic sampling, ``trainer.filter_groups`` (drawn after the others: their values stay as they were)."""
    path = "trainer.filter_groups"
    yield from _cases(f"{path}.enable", f"{path}.enable", _some(rng, [_word(rng), [True, False]], 1))
    for name in ("rule", "metric"):
        yield from _cases(f"{path}.{name}", f"{path}.{name}", _choice_field(rng))
    for name in ("low", "high"):
        yield from _cases(f"{path}.{name}", f"{path}.{name}", _real_field(rng, None, None))
    yield Case(f"{path}.low", (f"{path}.enable=true", f"{path}.rule=range", f"{path}.low=0.9", f"{path}.high=0.1"))
    yield from _cases(f"{path}.max_num_gen_batches", f"{path}.max_num_gen_batches", _int_field(rng, 1),
                      f"{path}.enable=true")
    word = _word(rng)
    yield Case(word, (f"+{path}.{word}={rng.randint(1, 9)}",))


def _train_sent_cases(rng: random.Random) -> Iterator[Case]:
    """SENT's token-term fields and its curriculum, ``trainer.curriculum`` (drawn last: the others stay as they
    were)."""
    yield from _cases("objective.sent_low_entropy_share", "objective.sent_low_entropy_share",
                      _real_field(rng, 0.0, 1.0, open_low=True))
    yield from _cases("objective.sent_high_cov_multiplier", "objective.sent_high_cov_multiplier",
                      _some(rng, [_below(rng, 1.0), 0.0, math.nan, math.inf, _word(rng)], 3))
    path = "trainer.curriculum"
    yield from _cases(f"{path}.enable", f"{path}.enable", _some(rng, [_word(rng), [True, False]], 1))
    for name in ("refresh_every", "stages", "stage_steps"):
        yield from _cases(f"{path}.{name}", f"{path}.{name}", _int_field(rng, 1), f"{path}.enable=true")
    yield Case(f"{path}.stages", (f"{path}.enable=true", f"{path}.stages={rng.randint(200, 900)}"))  # > prompts
    word = _word(rng)
    yield Case(word, (f"+{path}.{word}={rng.randint(1, 9)}",))


def _train_vapo_cases(rng: random.Random) -> Iterator[Case]:
    """VAPO's GAE lambdas, value pretraining and the bandit's critic fields (drawn last: the others stay as they
    were)."""
    yield from _cases("advantage.lam", "advantage.lam", _real_field(rng, 0.0, 1.0))
    yield from _cases("advantage.lam_critic", "advantage.lam_critic", _real_field(rng, 0.0, 1.0))
    yield from _cases("advantage.lam_alpha", "advantage.lam_alpha", _real_field(rng, 0.0, None, open_low=True))
    yield from _cases("trainer.critic_pretrain_steps", "trainer.critic_pretrain_steps", _int_field(rng, 0))
    yield Case("trainer.critic_pretrain_steps", ("trainer.critic_pretrain_steps=3",))  # the bandit has no critic
    yield Case("advantage.adv_estimator", ("advantage.adv_estimator=gae",))  # nor values to read
    yield from _cases("critic_lr", "backend.critic_lr", _real_field(rng, 0.0, None, open_low=True))
    yield from _cases("cliprange_value", "backend.cliprange_value", _real_field(rng, 0.0, None, open_low=True))
    yield from _cases("critic", "backend.critic", _some(rng, [_word(rng), [True]], 1))
    yield Case("critic", ("backend.mode=exact", "backend.critic=true"))


def _train_cases() -> list[Case]:
    rng = random.Random(0)
    return _unique(case for generate in (_train_run_cases, _train_trainer_cases, _train_objective_cases,
                                         _train_advantage_cases, _train_control_cases, _train_controller_cases,
                                         _train_backend_cases, _train_method_knob_cases, _train_filter_cases,
                                         _train_sent_cases, _train_vapo_cases)
                   for case in generate(rng))


TRAIN_CASES = _train_cases()
TRAIN_ERRORS = (ValueError, ConfigCompositionException, InstantiationException)
"""What entropic-train reports and exits 1 on (Hydra's composition errors, and its own ``main``'s)."""


@pytest.mark.parametrize("base", sorted(CONTROLLER_BASES))
def test_train_bases_build(base: str, tmp_path: Path) -> None:
    """The controller configs the cases spoil are valid as they stand."""
    build_trainer(_compose("train", [*TRAIN_BASE, *CONTROLLER_BASES[base]]), tmp_path)


@pytest.mark.parametrize("case", TRAIN_CASES, ids=lambda case: case.id)
def test_train_refuses_before_any_step(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """entropic-train refuses the bad config, naming the field, before a training step or metrics.jsonl."""
    monkeypatch.setattr(Trainer, "fit", _work_started)
    out = tmp_path / "run"
    with pytest.raises(TRAIN_ERRORS) as caught:
        train(_compose("train", [*TRAIN_BASE, *case.args]), out, case.args)
    _assert_names(_message(caught.value), case)
    assert not (out / "metrics.jsonl").exists()


# entropic-tune ----------------------------------------------------------------------------------------------

TUNE_BASE = ["backend.num_prompts=4", "backend.num_arms=8", "backend.num_correct=2", "backend.group_size=4",
             "backend.init_entropy=1.5", "backend.eval_k=[1,4]", "trainer.steps=40", "tune.seeds=2",
             "tune.batch_size=4", "tune.n_trials=8", "tune.report_every=10", "tune.heldout_seeds=2",
             "tune.report=false", "tune.export=false"]
"""A study of a tiny bandit (8 arms: max entropy log 8 = 2.08 nats)."""


def _tune_study_cases(rng: random.Random) -> Iterator[Case]:
    for name in ("n_trials", "batch_size", "seeds"):
        yield from _cases(name, f"tune.{name}", _some(rng, [0, -rng.randint(1, 99), _word(rng), 2.5], 2))
    for name in ("heldout_seeds", "report_every", "heldout_offset"):
        yield from _cases(name, f"tune.{name}", [-rng.randint(1, 99), _word(rng)])
    yield Case("tune.heldout_offset", ("tune.heldout_offset=1",))  # held-out seeds would repeat tuning seeds
    for name in ("pruner", "sampler"):
        yield from _cases(name, f"tune.{name}", _some(rng, [_word(rng), rng.randint(2, 9), [_word(rng)]], 2))
    yield from _cases("threads", "tune.threads", _some(rng, [0, -rng.randint(1, 9), _word(rng)], 2))
    yield from _cases("stale_after_s", "tune.stale_after_s",
                      _some(rng, [0.0, _below(rng, 0.0), math.nan, _word(rng)], 3))
    yield from _cases("timeout_s", "tune.timeout_s", _some(rng, [0.0, _below(rng, 0.0), math.nan, _word(rng)], 3))
    yield from _cases("sampler_seed", "tune.sampler_seed", [_word(rng), 0.5])
    for name in ("report", "export"):
        yield from _cases(name, f"tune.{name}", [_word(rng)])
    password = _word(rng)
    yield Case("tune.storage", (f"tune.storage=postgresql+psycopg://tuner:{password}@localhost:5432/optuna",),
               hidden=password)
    yield Case("tune.storage", (f"tune.storage=mysql://tuner@localhost/{_word(rng)}",))
    yield Case("tune.storage", (f"tune.storage={_word(rng)}",))
    yield from _cases("targets", "tune.targets",
                      _some(rng, [[_word(rng)], [], ["reward_auc", "reward_auc"], ["pass@0"], _word(rng)], 3))
    yield Case("eval_k", ("tune.targets=[pass@3]",))  # not in the backend's eval_k [1, 4]
    yield Case("tune.target_entropy", ("tune.target_entropy=null",))  # tracking_error needs it
    yield from _cases("target_entropy", "tune.target_entropy",
                      [_below(rng, 0.0), math.nan, math.inf, _word(rng), _above(rng, math.log(8))])
    yield from _cases("tail", "tune.tail", _real_field(rng, 0.0, 1.0, open_low=True, keep=2))
    word = _word(rng)
    yield Case(word, (f"+tune.{word}=1",))
    word = _word(rng)
    yield Case(word, (f"+tune.warm_start.{word}=1",))


def _tune_space_cases(rng: random.Random) -> Iterator[Case]:
    word = _word(rng)
    yield Case(word, (f"+tune.space.{word}=1",))
    word = _word(rng)
    yield Case(f"control.{word}", (f"+tune.space.params.control.{word}={{low:0.1,high:0.2}}",))
    yield Case("control.clip_ratio_high", ("+tune.space.params.control.clip_ratio_high={low:0.4,high:0.2}",))
    yield Case("control.clip_ratio_high", ("+tune.space.params.control.clip_ratio_high={low:0.0,high:0.4,log:true}",))
    yield Case("control.clip_ratio_high", ("+tune.space.params.control.clip_ratio_high={low:nan,high:0.4}",))
    yield Case("control.clip_ratio_high", ("+tune.space.params.control.clip_ratio_high={low:0.2,high:0.4,step:-0.1}",))
    yield Case("control.top_entropy_quantile", (
        f"+tune.space.params.control.top_entropy_quantile={{low:0.5,high:{_above(rng, 1.0)}}}",))
    yield Case("backend.num_arms", ("+tune.space.params.backend.num_arms={low:2,high:8}",))
    yield Case("backend.lr", (f"+tune.space.params.backend.lr={{low:{_below(rng, 0.0)},high:8.0}}",))
    low = _below(rng, 0.0)
    yield Case("controller.law.kp", (f"tune.space.branches.pi.params.controller.law.kp={{low:{low},high:1.0}}",))
    word = _word(rng)
    yield Case(f"controller.law.{word}",
               (f"+tune.space.branches.pi.params.controller.law.{word}={{low:0.1,high:1.0}}",))
    word = _word(rng)
    yield Case(word, (f"+tune.space.branches.pi.{word}=1",))
    yield Case("controller", (f"tune.space.branches.pi.controller={_word(rng)}",))
    yield Case("method", (f"tune.warm_start.baselines.dapo.method={_word(rng)}",))
    yield Case("controller", (f"tune.warm_start.baselines.skywork.controller={_word(rng)}",))
    yield Case("controller.law.target", ("tune.warm_start.baselines.skywork.law.target=nan",))
    yield Case("tune.warm_start.design", (f"tune.warm_start.design=[no_such_design_{_word(rng)}.yaml]",))
    word = _word(rng)
    yield Case(word, (f"+tune.warm_start.baselines.dapo.{word}=1",))


def _tune_run_cases(rng: random.Random) -> Iterator[Case]:
    for name in ("entropy_coeff", "clip_ratio_high", "top_entropy_quantile"):
        yield from _cases(f"control.{name}", f"+control.{name}",
                          _some(rng, [_word(rng), [0.1, 0.2], math.nan, True, [True], [_word(rng)]], 3))
    yield Case("control.clip_ratio_low", (f"+control.clip_ratio_low={_above(rng, 1.0)}",))
    yield from _cases("trainer.steps", "trainer.steps", _some(rng, [0, -rng.randint(1, 99), _word(rng)], 2))
    yield from _cases("trainer.ppo_epochs", "trainer.ppo_epochs", [0, _word(rng)])
    word = _word(rng)
    yield Case(f"trainer.{word}", (f"+trainer.{word}=5",))
    word = _word(rng)
    yield Case(word, (f"+{word}=1",))
    yield from _cases("seed", "seed", [-rng.randint(1, 99), _word(rng)])
    yield from _cases("objective.policy_loss", "objective.policy_loss", [_word(rng), rng.randint(2, 9)])
    yield from _cases("controller.law.kp", "controller.law.kp", _some(rng, [_below(rng, 0.0), math.nan, _word(rng)], 2))
    yield from _cases("num_arms", "backend.num_arms", [1, _word(rng)])
    yield from _cases("lr", "backend.lr", [0.0, math.nan])
    yield from _cases("init_entropy", "backend.init_entropy", [_above(rng, math.log(8)), _word(rng)])


def _tune_cases() -> list[Case]:
    rng = random.Random(1)
    return _unique(case for generate in (_tune_study_cases, _tune_space_cases, _tune_run_cases)
                   for case in generate(rng))


TUNE_CASES = _tune_cases()
TUNE_ERRORS = (ValueError, ConfigCompositionException, InstantiationException)
"""What entropic-tune reports and exits 1 on."""


def test_tune_base_passes_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The study the cases spoil is valid: it gets as far as opening its database."""
    monkeypatch.setattr(tune_cli, "make_storage", _work_started)
    with pytest.raises(WorkStarted):
        tune_cli.run_study(_compose("tune/default", TUNE_BASE), tmp_path)


@pytest.mark.parametrize("case", TUNE_CASES, ids=lambda case: case.id)
def test_tune_refuses_before_any_trial(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """entropic-tune refuses the bad config, naming the field, before it opens the study or runs a trial."""
    monkeypatch.setattr(tune_cli, "make_storage", _work_started)
    monkeypatch.setattr(tune_cli, "StudyRunner", _work_started)
    with pytest.raises(TUNE_ERRORS) as caught:
        tune_cli.run_study(_compose("tune/default", [*TUNE_BASE, *case.args]), tmp_path)
    _assert_names(_message(caught.value), case)
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "tune_summary.json").exists()


# entropic-design --------------------------------------------------------------------------------------------

DESIGN_BASE = ["backend.num_prompts=8", "backend.group_size=4"]


def _design_cases() -> list[Case]:
    rng = random.Random(2)
    flat = rng.choice([n for n in ACTUATORS.names() if ACTUATORS.get(n).direction == 0])

    def generate() -> Iterator[Case]:
        yield from _cases("design.actuator", "design.actuator", [_word(rng), rng.randint(2, 9), flat])
        yield from _cases("design.sensor", "design.sensor", [_word(rng), rng.randint(2, 9)])
        yield from _cases("design.target", "design.target",
                          [*_some(rng, [0.0, _below(rng, 0.0), math.nan, math.inf, _word(rng)], 3),
                           _above(rng, LOG_ARMS)])  # the last: above log 32, out of the policy's reach
        yield from _cases("design.rule", "design.rule", _choice_field(rng))
        yield from _cases("design.tau_c", "design.tau_c", _some(rng, [0.0, _below(rng, 0.0), math.nan, _word(rng)], 2))
        yield from _cases("design.limits", "design.limits",
                          _some(rng, [[1.0, 0.5], [0.5], [0.0, 0.5, 1.0], [math.nan, 1.0], _word(rng)], 3))
        yield from _cases("design.anti_windup", "design.anti_windup", _choice_field(rng))
        yield from _cases("design.horizon", "design.horizon", _some(rng, [9, -rng.randint(1, 99), _word(rng), 12.5], 2))
        point = "design.operating_point"
        yield from _cases("knob", f"{point}.knob", [math.nan, math.inf, _word(rng)])
        yield from _cases("grid", f"{point}.grid", _some(rng, [[1.0, 0.5], [0.5], [0.1, 0.1], _word(rng)], 2))
        yield from _cases("points", f"{point}.points", _some(rng, [1, -rng.randint(1, 9), _word(rng)], 2))
        yield from _cases("steps", f"{point}.steps", [9, _word(rng)])
        yield from _cases("window", f"{point}.window", [0, 301])
        yield from _cases("passes", f"{point}.passes", [0, _word(rng)])
        excitation = "design.excitation"
        yield from _cases("warmup", f"{excitation}.warmup", [-rng.randint(1, 99), _word(rng)])
        yield from _cases("steps", f"{excitation}.steps", [19, 0])
        yield from _cases("period", f"{excitation}.period", [0, -rng.randint(1, 9)])
        yield from _cases("order", f"{excitation}.order", [2, 11])
        yield from _cases("amplitudes", f"{excitation}.amplitudes",
                          _some(rng, [[], [0.0], [_below(rng, 0.0)], [math.nan], _word(rng)], 3))
        yield from _cases("train_runs", f"{excitation}.train_runs", [0])
        yield from _cases("held_out_runs", f"{excitation}.held_out_runs", [0])
        yield from _cases("held_out_steps", f"{excitation}.held_out_steps", [_word(rng)])
        models = "design.models"
        yield from _cases("design.models.kinds", f"{models}.kinds", [[_word(rng)], [], ["fopdt", _word(rng)]])
        yield from _cases("design.models.arx_orders", f"{models}.arx_orders",
                          _some(rng, [[2, 2], [2, 0, 1], [2, 2, 0], [-1, 2, 1], [2, 2, 1, 1]], 3))
        yield from _cases("design.models.max_dead_time", f"{models}.max_dead_time", [-rng.randint(1, 9), _word(rng)])
        validation = "design.validation"
        yield from _cases("seeds", f"{validation}.seeds", [-rng.randint(1, 9), _word(rng)])
        yield from _cases("steps", f"{validation}.steps", [0])
        yield from _cases("band", f"{validation}.band", _some(rng, [0.0, 1.0, _above(rng, 1.0), math.nan], 2))
        yield from _cases("from_step", f"{validation}.from_step", _some(rng, [-1, 1000, 2000], 2))
        yield from _cases("step_at", f"{validation}.step_at", [0, -rng.randint(1, 9)])
        yield from _cases("step_steps", f"{validation}.step_steps", [1])
        yield from _cases("step_size", f"{validation}.step_size", [math.nan, math.inf])
        yield from _cases("settling_threshold", f"{validation}.settling_threshold", _some(rng, [0.0, 1.0, math.nan], 2))
        for section in ("design", "design.operating_point", "design.models"):
            word = _word(rng)
            yield Case(word, (f"+{section}.{word}=1",))
        word = _word(rng)
        yield Case(word, (f"+{word}=1",))
        yield from _cases("seed", "seed", [-rng.randint(1, 9), _word(rng)])
        yield from _cases("control.entropy_coeff", "control.entropy_coeff", [_word(rng), math.nan, True, [0.1, 0.2]])
        yield from _cases("control.clip_ratio_low", "+control.clip_ratio_low", [_above(rng, 1.0)])
        yield from _cases("objective.policy_loss", "objective.policy_loss", [_word(rng)])
        yield from _cases("num_arms", "backend.num_arms", [1, _word(rng)])
        yield from _cases("lr", "backend.lr", [0.0, math.nan])
        yield from _cases("init_entropy", "backend.init_entropy", [_above(rng, LOG_ARMS)])

    return _unique(generate())


DESIGN_CASES = _design_cases()
DESIGN_ERRORS = (ValueError, ConfigCompositionException)
"""What entropic-design reports and exits 1 on (Hydra's composition errors, and its own ``main``'s)."""


def _stub_design_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(design_cli, "operating_point", _work_started)
    monkeypatch.setattr(design_cli, "excitation_response", _work_started)


def test_design_base_passes_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The design the cases spoil is valid: it gets as far as its first experiment."""
    _stub_design_work(monkeypatch)
    with pytest.raises(WorkStarted):
        design_cli.run_design(_compose("design/default", DESIGN_BASE), tmp_path)


@pytest.mark.parametrize("case", DESIGN_CASES, ids=lambda case: case.id)
def test_design_refuses_before_any_experiment(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """entropic-design refuses the bad config, naming the field, before its first experiment or report."""
    _stub_design_work(monkeypatch)
    with pytest.raises(DESIGN_ERRORS) as caught:
        design_cli.run_design(_compose("design/default", [*DESIGN_BASE, *case.args]), tmp_path)
    _assert_names(_message(caught.value), case)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "summary.json").exists()


# entropic-laws ----------------------------------------------------------------------------------------------


def _laws_cases() -> list[Case]:
    rng = random.Random(3)
    cases = []
    for option in ("--threads", "--jobs"):
        for value in (0, -rng.randint(1, 9), _word(rng), 1.5, ""):
            cases.append(Case(option, (option, str(value))))
        cases.append(Case(option, (option,)))  # no value
    word, missing = _word(rng), f"no_such_run_{_word(rng)}"
    cases += [Case("claim", ("--claims", word)), Case("claim", ("--claims", "")),
              Case("claim", ("--claims", f"covariance_law,{_word(rng)}")), Case("claim", ("--claims", "quadrants,")),
              Case(f"--{word}", (f"--{word}",)), Case(missing, ("--analyse", missing)),
              Case("--out", ("--out", "{quick_out}")), Case("--out", ("--quick", "--out", "{full_out}"))]
    return cases


LAWS_CASES = _laws_cases()


@pytest.mark.parametrize("case", LAWS_CASES, ids=lambda case: case.id)
def test_laws_refuses_before_any_claim(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """entropic-laws refuses the bad argument, naming it, and exits non-zero before running a claim."""
    monkeypatch.setattr(laws_cli, "run_claims", _work_started)
    monkeypatch.setattr(laws_cli, "write_report", _work_started)
    monkeypatch.setattr(laws_cli, "retain_freed_memory", lambda: False)
    outputs: dict[str, Path] = {}
    for name, quick in (("quick_out", True), ("full_out", False)):  # directories holding the other mode's report
        outputs[name] = tmp_path / name
        outputs[name].mkdir()
        (outputs[name] / "laws.json").write_text(json.dumps({"quick": quick, "claims": []}))
    argv = [arg.format(**outputs) if arg.startswith("{") else arg for arg in case.args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "laws")]
    try:
        status = laws_cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    assert status in (1, 2)
    _assert_names(capsys.readouterr().err + caplog.text, case)
    assert not (tmp_path / "laws").exists()
    assert all(json.loads((path / "laws.json").read_text())["claims"] == [] for path in outputs.values())


def test_case_counts() -> None:
    """A few hundred generated cases, each config at most once per CLI."""
    counts = {"train": len(TRAIN_CASES), "tune": len(TUNE_CASES), "design": len(DESIGN_CASES),
              "laws": len(LAWS_CASES)}
    assert sum(counts.values()) >= 300, counts
    assert all(count > 0 for count in counts.values()), counts
    # every field of the trainer, the dynamic-sampling and curriculum sections included, is spoiled by some case
    sections = {"filter_groups": FilterGroupsConfig, "curriculum": CurriculumConfig}
    fields = {f"trainer.{f.name}" for f in dataclasses.fields(TrainerConfig) if f.name not in sections}
    for section, config in sections.items():
        fields |= {f"trainer.{section}.{f.name}" for f in dataclasses.fields(config)}
    assert fields <= {case.field for case in TRAIN_CASES}, fields - {case.field for case in TRAIN_CASES}

