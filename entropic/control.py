"""The actuator values an objective reads and a controller writes.

:class:`Control` is the only channel between controllers and objectives: an
objective term reads knobs from it, a controller returns a new one. Each field
is a Python float (one value for every run in the batch) or a float tensor of
shape ``[R]`` (one value per independent run, for vectorised simulation).

Every field declares its physical limits once, here; a value outside them
raises ``ValueError`` naming the field and the allowed range, and controllers
clip their outputs to the same limits (:func:`control_limits`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch

from entropic.per_run import split_runs

Knob = float | torch.Tensor
"""A control value: a float for all runs, or a tensor ``[R]`` with one value per run."""

INF = math.inf


def _knob(default: float, low: float, high: float, help: str, *, open_low: bool = False,
          open_high: bool = False) -> Knob:
    return field(default=default, metadata={
        "limits": (low, high), "open_low": open_low, "open_high": open_high, "help": help})


@dataclass(frozen=True)
class Control:
    """Actuator values for one optimisation step.

    Names and defaults follow verl (``actor_rollout_ref.actor.*``) and TRL
    (``GRPOConfig``) where those have the knob; the rest are entropic's own.
    The per-field ``help`` metadata is the documentation (shown by the CLI).
    """

    entropy_coeff: Knob = _knob(
        0.0, -INF, INF,
        "Entropy bonus coefficient c: loss -= c * agg(H). verl default 0. A negative value "
        "penalises entropy, which a controller uses to bring an exploding entropy down.")
    pos_weight: Knob = _knob(
        1.0, 0.0, INF,
        "Multiplier on the policy loss of tokens with positive advantage (W-REINFORCE lambda = 0.1).")
    neg_weight: Knob = _knob(
        1.0, 0.0, INF, "Multiplier on the policy loss of tokens with negative advantage.")
    clip_ratio_low: Knob = _knob(
        0.2, 0.0, 1.0, "PPO lower clip eps_low: ratio >= 1 - eps_low (verl default 0.2); 1 disables the lower "
        "clip (Clip-Cov's recipe), above 1 the bound would be negative.")
    clip_ratio_high: Knob = _knob(
        0.2, 0.0, INF, "PPO upper clip eps_high: ratio <= 1 + eps_high (verl 0.2; DAPO Clip-Higher 0.28).")
    clip_ratio_c: Knob = _knob(
        3.0, 1.0, INF, "Dual-clip constant c > 1 for negative advantages (verl default 3.0).",
        open_low=True)
    kl_loss_coef: Knob = _knob(
        0.001, 0.0, INF, "KL loss coefficient beta (verl actor.kl_loss_coef, default 0.001).")
    top_entropy_quantile: Knob = _knob(
        1.0, 0.0, 1.0, "Fraction rho of valid tokens (highest entropy) that keep their policy "
        "gradient (TRL top_entropy_quantile, default 1.0 = all; 80/20 paper 0.2). Range (0, 1].",
        open_low=True)
    clip_cov_ratio: Knob = _knob(
        2e-4, 0.0, 1.0, "Clip-Cov: fraction of valid tokens whose gradient is detached (verl 2e-4).")
    clip_cov_lb: Knob = _knob(1.0, -INF, INF, "Clip-Cov: lower covariance bound (verl 1.0).")
    clip_cov_ub: Knob = _knob(5.0, -INF, INF, "Clip-Cov: upper covariance bound (verl 5.0).")
    kl_cov_ratio: Knob = _knob(
        2e-4, 0.0, 1.0, "KL-Cov: fraction of valid tokens (top covariance) given the KL penalty "
        "(verl 2e-4; paper 7B recipe 2e-3). SENT (sent_kl term): fraction of the low-entropy tokens (top "
        "covariance) given the stronger penalty.")
    ppo_kl_coef: Knob = _knob(
        0.1, 0.0, INF, "KL-Cov: coefficient of |log ratio| on selected tokens (verl yaml 0.1; paper 1). SENT "
        "(sent_kl term): coefficient of |log ratio| on the low-entropy tokens.")
    entropic_alpha: Knob = _knob(
        0.0, -1.0, 1.0, "EntroPIC output alpha in [-1, 1]: > 0 pushes high-probability tokens up "
        "(entropy falls), < 0 damps positive and strengthens negative ones (entropy rises).")
    high_prob_thresh: Knob = _knob(
        0.95, 0.0, 1.0, "EntroPIC: a token is high-probability when pi > p_hi (authors' default 0.95).",
        open_low=True, open_high=True)
    off_policy_mask_threshold: Knob = _knob(
        INF, -INF, INF, "DeepSeek-V3.2 off-policy sequence masking delta: drop negative-advantage "
        "sequences whose mean log(pi_sample / pi_theta) exceeds it (TRL off_policy_mask_threshold; "
        "inf = off, TRL suggests 0.5).")
    off_policy_gamma: Knob = _knob(
        0.1, 0.0, INF, "LUFFY policy shaping gamma: a demonstration token's ratio r = pi / pi_phi enters the loss as "
        "r / (r + gamma), unclipped (paper and released code 0.1); smaller values weight rare tokens more.",
        open_low=True, open_high=True)
    nsa_weight: Knob = _knob(
        1.0, -1.0, INF, "BCPG-NSA credit lambda: a token of a verified step in a negative-advantage response gets "
        "the advantage lambda * |A| (objective.policy_loss=nsa); -1 keeps A (GRPO), 0 drops the penalty. "
        "Default 1 (unverified).", open_high=True)
    pos_lm_coef: Knob = _knob(
        0.1, 0.0, INF, "VAPO positive-example LM loss weight mu: loss += mu * agg(-log pi) over the correct "
        "responses (objective.terms=[pos_lm]; arXiv 2504.05118, 0.1 as reported, unverified).")

    def __post_init__(self) -> None:
        runs = set()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            _check_knob(f, value)
            if isinstance(value, torch.Tensor):
                runs.add(value.shape[0])
        if len(runs) > 1:
            raise ValueError(f"Control: per-run tensors disagree on the number of runs R: {sorted(runs)}")
        if _any(_as_tensor(self.clip_cov_lb) >= _as_tensor(self.clip_cov_ub)):
            raise ValueError(
                f"Control.clip_cov_lb must be < clip_cov_ub, got {self.clip_cov_lb} >= {self.clip_cov_ub}")

    @cached_property
    def num_runs(self) -> int | None:
        """R if any field is a per-run tensor, else ``None``."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                return value.shape[0]
        return None

    def replace(self, **changes: Knob) -> Control:
        """A copy with ``changes`` applied (validated); unknown names raise ``ValueError``."""
        unknown = set(changes) - set(control_fields())
        if unknown:
            raise ValueError(f"unknown Control field(s) {sorted(unknown)}; allowed: {control_fields()}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Knob]:
        """Field name -> value (floats, or tensors ``[R]``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def control_fields() -> list[str]:
    """Names of every :class:`Control` field."""
    return [f.name for f in dataclasses.fields(Control)]


def control_limits(name: str) -> tuple[float, float]:
    """Physical ``(low, high)`` limits of a :class:`Control` field."""
    for f in dataclasses.fields(Control):
        if f.name == name:
            return f.metadata["limits"]
    raise ValueError(f"unknown Control field {name!r}; allowed: {control_fields()}")


def _as_tensor(value: Knob) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(float(value))


def _any(x: torch.Tensor) -> bool:
    return bool(x.any())


def _limits_text(f: dataclasses.Field) -> str:
    """The allowed range of a knob, with open ends in parentheses: ``(0.0, 1.0]``."""
    low, high = f.metadata["limits"]
    return f"{'(' if f.metadata['open_low'] else '['}{low}, {high}{')' if f.metadata['open_high'] else ']'}"


def _outside(f: dataclasses.Field, x: torch.Tensor) -> bool:
    """Whether any value of ``x`` is NaN or outside the limits of the knob ``f``."""
    low, high = f.metadata["limits"]
    too_low = x <= low if f.metadata["open_low"] else x < low
    too_high = x >= high if f.metadata["open_high"] else x > high
    return _any(too_low | too_high | torch.isnan(x))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_knob(f: dataclasses.Field, value: Knob) -> None:
    allowed = f"a float in {_limits_text(f)} or a 1-D float tensor [R] of such values"
    if isinstance(value, torch.Tensor):
        if value.dim() != 1 or not value.is_floating_point():
            raise ValueError(f"Control.{f.name} must be {allowed}; got a tensor of shape "
                             f"{tuple(value.shape)} and dtype {value.dtype}")
        x = value.detach()
    elif _is_number(value):
        x = torch.tensor(float(value))
    else:
        raise ValueError(f"Control.{f.name} must be {allowed}; got {value!r}")
    if _outside(f, x):
        raise ValueError(f"Control.{f.name} must be {allowed}; got {value!r}")


def control_from_mapping(values: Mapping[str, object], num_runs: int) -> Control:
    """A :class:`Control` from the values of the ``control`` config group, checked for ``num_runs`` runs.

    Each value is ``None`` (Control's default), a number (every run), or a list of ``num_runs``
    numbers (one per run, a tensor ``[R]``), within the knob's limits. Anything else (a string, a
    boolean, a list of another length, a value out of range, an unknown name) raises ``ValueError``
    naming ``control.<knob>`` and what is allowed.
    """
    fields = {f.name: f for f in dataclasses.fields(Control)}
    converted: dict[str, Knob] = {}
    for name, value in values.items():
        if name not in fields:
            raise ValueError(f"control.{name} is not a Control field; allowed: {control_fields()}")
        if value is None:
            continue
        runs = split_runs(value, num_runs, f"control.{name}")
        numbers = [value] if runs is None else runs
        if not all(_is_number(x) for x in numbers) or _outside(fields[name], torch.tensor([float(x) for x in numbers])):
            raise ValueError(f"control.{name} must be a number in {_limits_text(fields[name])}, or a list of "
                             f"num_runs={num_runs} such numbers (one per run); got {value!r}")
        converted[name] = float(value) if runs is None else torch.tensor([float(x) for x in runs])
    return Control(**converted)
