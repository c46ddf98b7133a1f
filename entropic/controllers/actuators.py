"""Actuators: which :class:`~entropic.control.Control` field(s) a controller drives, and with which sign.

An actuator owns a scalar *knob* ``k`` per run and writes it into Control fields through an
affine map ``value_f = offset_f + slope_f * k``: the knob is the field itself for a
single-field actuator (``entropy_coeff``, ``top_entropy_quantile``, ...), and the offset
``d`` of the pair ``pos_neg_weight`` (``pos_weight = 1 - d``, ``neg_weight = 1 + d``, so
``d`` lies in ``[-1, 1]``).

Each actuator declares its ``direction``: the effect on entropy of *raising* its knob (+1
raises entropy, -1 lowers it, 0 unknown), after the published method that uses the knob.
Feedback laws output an effort ``u`` (``u > 0`` asks for more entropy)
and the actuator maps it as ``k = bias + direction * u``, so a positive-gain PID works for
every actuator; open-loop laws (constant, schedules) set the knob itself, ``k = u``.

Physical limits are those of :func:`~entropic.control.control_limits`, declared once on
:class:`~entropic.control.Control`; written values are clipped to them (an open bound is
replaced by the nearest representable value inside it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from entropic.control import Control, control_fields, control_limits
from entropic.registry import Registry


@dataclass(frozen=True)
class ActuatorSpec:
    """A named way to write a knob into Control fields.

    Attributes
    ----------
    name : str
        Registry name (``controller.actuator.name``).
    fields : tuple[str, ...]
        Control fields written.
    offsets, slopes : tuple[float, ...]
        ``value_f = offsets[f] + slopes[f] * knob``, one pair per field.
    direction : int
        Effect on entropy of raising the knob: +1 raises, -1 lowers, 0 unknown (open-loop laws only).
    zero_effort : float, optional
        Knob value at zero effort for feedback laws; ``None`` means the base control's value.
    description : str
        What the knob is, and the source of its direction.
    """

    name: str
    fields: tuple[str, ...]
    offsets: tuple[float, ...]
    slopes: tuple[float, ...]
    direction: int
    zero_effort: float | None
    description: str

    def knob_limits(self) -> tuple[float, float]:
        """``(low, high)`` of the knob: the knob values that keep every field within its physical limits."""
        low, high = -math.inf, math.inf
        for name, offset, slope in zip(self.fields, self.offsets, self.slopes, strict=True):
            lo, hi = ((v - offset) / slope for v in control_limits(name))
            low, high = max(low, min(lo, hi)), min(high, max(lo, hi))
        return low, high

    def knob_of(self, control: Control, num_runs: int, dtype: torch.dtype, device: torch.device | str
                ) -> torch.Tensor:
        """The knob value ``[R]`` that ``control`` holds (read from the first field)."""
        value = getattr(control, self.fields[0])
        if isinstance(value, torch.Tensor) and tuple(value.shape) != (num_runs,):
            raise ValueError(f"base control {self.fields[0]} has {value.shape[0]} per-run values, the controller "
                             f"has num_runs={num_runs}")
        value = torch.as_tensor(value, dtype=dtype, device=device).expand(num_runs).clone()
        return (value - self.offsets[0]) / self.slopes[0]

    def values(self, knob: torch.Tensor) -> dict[str, torch.Tensor]:
        """Control field values ``{field: [R]}`` for a knob ``[R]``, clipped to the physical limits."""
        return {name: _clip_to_field(offset + slope * knob, name)
                for name, offset, slope in zip(self.fields, self.offsets, self.slopes, strict=True)}


def _clip_to_field(value: torch.Tensor, name: str) -> torch.Tensor:
    meta = {f.name: f.metadata for f in dataclasses.fields(Control)}[name]
    low, high = (torch.tensor(v, dtype=value.dtype, device=value.device) for v in control_limits(name))
    if meta["open_low"]:
        low = torch.nextafter(low, high)
    if meta["open_high"]:
        high = torch.nextafter(high, low)
    return torch.minimum(torch.maximum(value, low), high)


ACTUATORS: Registry[ActuatorSpec] = Registry("actuator", "controller.actuator.name")

# Effect on entropy of raising each Control field, the knob at zero effort (None = the base
# control's value) and the reason, after the published method that uses the knob.
_SINGLE: dict[str, tuple[int, float | None, str]] = {
    "entropy_coeff": (+1, 0.0, "entropy bonus c (verl entropy_coeff): a larger c raises entropy; zero effort = "
                               "no bonus"),
    "pos_weight": (-1, None, "weight of A > 0 tokens: a lower weight raises entropy (W-REINFORCE, PSR/NSR)"),
    "neg_weight": (+1, None, "weight of A < 0 tokens: a higher weight raises entropy (PSR/NSR)"),
    "clip_ratio_low": (+1, None, "PPO eps_low: weakly raises entropy, only with > 1 update per batch"),
    "clip_ratio_high": (+1, None, "PPO eps_high (DAPO Clip-Higher): raises entropy, only with > 1 update per batch"),
    "clip_ratio_c": (0, None, "dual-clip constant: no declared effect on entropy"),
    "kl_loss_coef": (+1, None, "KL loss beta: pulls entropy toward the reference policy's, usually up"),
    "top_entropy_quantile": (-1, None, "kept share rho of high-entropy tokens: a lower rho raises entropy "
                                       "(Beyond the 80/20 Rule)"),
    "clip_cov_ratio": (+1, None, "Clip-Cov detached share: raises entropy (Entropy Mechanism paper)"),
    "clip_cov_lb": (0, None, "Clip-Cov lower bound: no declared effect on entropy"),
    "clip_cov_ub": (0, None, "Clip-Cov upper bound: no declared effect on entropy"),
    "kl_cov_ratio": (+1, None, "KL-Cov (and SENT's strongly) penalised share: raises entropy (Entropy Mechanism "
                               "paper)"),
    "ppo_kl_coef": (+1, None, "KL-Cov and SENT coefficient: raises entropy (Entropy Mechanism paper; SENT, "
                              "arXiv 2512.04359)"),
    "entropic_alpha": (-1, 0.0, "EntroPIC alpha: alpha > 0 lowers entropy; zero effort = alpha 0"),
    "high_prob_thresh": (0, None, "EntroPIC p_hi: no declared effect on entropy"),
    "off_policy_mask_threshold": (+1, None, "DeepSeek-V3.2 OPSM delta: a lower delta drops more negative samples "
                                            "and lowers entropy (hypothesis); set actuator.bias, the default is inf"),
    "off_policy_gamma": (-1, None, "LUFFY shaping gamma: a larger gamma weights rare demonstration tokens less and "
                                   "lowers entropy (the paper's argument for a small gamma; hypothesis)"),
    "nsa_weight": (-1, None, "BCPG-NSA credit: a larger lambda reinforces the verified steps of wrong responses, "
                             "tokens the policy already tends to write, and lowers entropy (hypothesis)"),
    "pos_lm_coef": (-1, None, "VAPO positive-example LM weight mu: a larger mu imitates the correct responses, "
                              "sharpening the policy on them, and lowers entropy (hypothesis)"),
}
if set(_SINGLE) != set(control_fields()):
    raise RuntimeError(f"actuator table out of date: {sorted(set(control_fields()) ^ set(_SINGLE))}")

for _name, (_direction, _zero, _about) in _SINGLE.items():
    ACTUATORS.register(_name)(ActuatorSpec(_name, (_name,), (0.0,), (1.0,), _direction, _zero, _about))

ACTUATORS.register("pos_neg_weight")(ActuatorSpec(
    "pos_neg_weight", ("pos_weight", "neg_weight"), (1.0, 1.0), (-1.0, 1.0), +1, 0.0,
    "offset d of the advantage-sign weights: pos_weight = 1 - d, neg_weight = 1 + d, d in [-1, 1]; "
    "a larger d damps positive and strengthens negative samples, raising entropy (PSR/NSR)"))


class Actuator:
    """An actuator bound to R runs: maps a law's output ``[R]`` to Control field values.

    Parameters
    ----------
    spec : ActuatorSpec
        What to write.
    bias : FloatTensor [R], optional
        Knob at zero effort, for feedback laws (``k = bias + direction * u``); ``None`` for an
        open-loop law, whose output is the knob (``k = u``).
    num_runs : int
        R.
    dtype, device
        Of the output limits.

    Attributes
    ----------
    low, high : FloatTensor [R]
        Limits of the law's output that keep every field within its physical limits.
    """

    def __init__(self, spec: ActuatorSpec, bias: torch.Tensor | None, num_runs: int, dtype: torch.dtype,
                 device: torch.device | str) -> None:
        self.spec = spec
        self.bias = bias
        k_low, k_high = (torch.full((num_runs,), v, dtype=dtype, device=device) for v in spec.knob_limits())
        if bias is None:
            self.low, self.high = k_low, k_high
        elif spec.direction > 0:
            self.low, self.high = k_low - bias, k_high - bias
        else:
            self.low, self.high = bias - k_high, bias - k_low

    @property
    def name(self) -> str:
        """The registered actuator name."""
        return self.spec.name

    def knob(self, output: torch.Tensor) -> torch.Tensor:
        """The knob value ``[R]`` for a law output ``[R]``."""
        if self.bias is None:
            return output
        return self.bias + self.spec.direction * output

    def apply(self, output: torch.Tensor) -> dict[str, torch.Tensor]:
        """Control field values ``{field: [R]}`` for a law output ``[R]``."""
        return self.spec.values(self.knob(output))
