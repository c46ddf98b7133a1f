"""Carry a tuned PI/PID law from one backend to another by the ratio of their identified plants.

A controller tuned where trials are cheap (the bandit) meets a plant with another gain and another
speed on the toy LM or an LLM. This is not a fresh design on the target: the source's gains are kept
relative to its own plant, then put back in the target's units. With first-order-plus-delay plants
``k e^{-theta s} / (tau s + 1)`` on both sides (:class:`~entropic.tuning.design.rules.ProcessModel`)::

    kp_t = kp_s * k_s / k_t          (the same loop gain)
    tauI_t = tauI_s * tau_t / tau_s  (the same integral time in units of the plant's time constant)
    tauD_t = tauD_s * tau_t / tau_s

so when the target is the source scaled in gain by ``c`` and in time by ``a`` (its delay too), the
target's loop transfer function is the source's with frequency scaled by ``1 / a``: the same margins and
overshoot, ``a`` times slower. When either plant is integrating (``k' e^{-theta s} / s``: the knob sets the
rate at which entropy moves, as the entropy bonus does on an LLM), a first-order plant is compared by its
initial rate ``k / tau`` and time is not rescaled (an integrator has no time constant of its own)::

    kp_t = kp_s * r_s / r_t,  r = k' or k / tau;  tauI_t = tauI_s,  tauD_t = tauD_s

The setpoint is carried in nats (``absolute``) or as the same share of each plant's reference entropy
(``relative``: for example the entropy of the policy each run starts from).
"""

from __future__ import annotations

from dataclasses import dataclass

from entropic.tuning.design.rules import ProcessModel

SETPOINT_MODES = ("absolute", "relative")


@dataclass(frozen=True)
class Transfer:
    """Gains on the target and how they were obtained.

    Attributes
    ----------
    gains : dict[str, float]
        ``kp``, ``ki``, ``kd`` of entropic's law on the target (ideal form, one step of sample time).
    gain_ratio : float
        ``kp_t / kp_s``.
    time_ratio : float
        ``tauI_t / tauI_s`` (and ``tauD_t / tauD_s``).
    rule : str
        ``first-order`` (gain and time constant ratios) or ``integrating`` (initial-rate ratio).
    """

    gains: dict[str, float]
    gain_ratio: float
    time_ratio: float
    rule: str


def transfer_gains(gains: dict[str, float], source: ProcessModel, target: ProcessModel) -> Transfer:
    """The source law's ``kp``, ``ki``, ``kd`` (ideal form) carried to the target plant (module docstring)."""
    for side, plant in (("source", source), ("target", target)):
        if not plant.gain > 0 or not plant.tau1 > 0:
            raise ValueError(f"the {side} plant must have a positive gain and time constant in effort units "
                             f"(identify it with the actuator's direction), got gain {plant.gain:.4g}, "
                             f"tau {plant.tau1:.4g}")
    if source.integrating or target.integrating:
        gain_ratio, time_ratio, rule = _rate(source) / _rate(target), 1.0, "integrating"
    else:
        gain_ratio, time_ratio, rule = source.gain / target.gain, target.tau1 / source.tau1, "first-order"
    kp = gains["kp"] * gain_ratio
    # ki = kp / tauI and kd = kp tauD (one step of sample time): rescale the times, then rebuild
    ki = gains.get("ki", 0.0) * gain_ratio / time_ratio
    kd = gains.get("kd", 0.0) * gain_ratio * time_ratio
    return Transfer({"kp": kp, "ki": ki, "kd": kd}, gain_ratio, time_ratio, rule)


def carried_effort_limits(law: dict[str, float | None], gain_ratio: float,
                          within: tuple[float, float] | None = None) -> dict[str, float | None]:
    """The source law's ``output_min`` / ``output_max`` times ``gain_ratio``, inside ``within`` when given.

    The effort range is part of the tuned loop: scaled as ``kp`` is, the target's effort saturates at
    the same error as the source's did, and a unit of it moves the target's plant as a unit of the
    source's moved the source's. ``within`` is the effort range the target's own knob limits allow (a
    poorly identified plant can make the ratio absurd); the operating point's runaway is not among
    them: it bounds the identification's constant-knob excitation, while a feedback loop passes the knob
    briefly. An unbounded side (``None``) takes ``within``'s.
    """
    low, high = (None, None) if within is None else within
    carried = {key: None if law.get(key) is None else float(law[key]) * gain_ratio
               for key in ("output_min", "output_max")}
    if low is not None:
        carried["output_min"] = low if carried["output_min"] is None else max(carried["output_min"], low)
    if high is not None:
        carried["output_max"] = high if carried["output_max"] is None else min(carried["output_max"], high)
    return carried


def _rate(plant: ProcessModel) -> float:
    """Initial rate of the step response per unit effort: ``k'``, or ``k / tau`` for a first-order plant."""
    return plant.gain if plant.integrating else plant.gain / plant.tau1


def transfer_setpoint(setpoint: float, mode: str, source_reference: float | None = None,
                      target_reference: float | None = None) -> float:
    """The target's setpoint: ``setpoint`` itself (``absolute``), or the same share of the target's reference
    entropy as of the source's (``relative``)."""
    if mode not in SETPOINT_MODES:
        raise ValueError(f"transfer.setpoint_mode={mode!r} is not supported; allowed values: {list(SETPOINT_MODES)}")
    if mode == "absolute":
        return setpoint
    if not source_reference or target_reference is None or source_reference <= 0:
        raise ValueError("transfer.setpoint_mode=relative needs the source's and the target's reference entropies "
                         f"(> 0), got {source_reference} and {target_reference}")
    return setpoint / source_reference * target_reference
