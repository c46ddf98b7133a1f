"""Open-loop experiments on a backend for identification: operating-point search and PRBS/step excitation.

Every experiment is one :class:`~entropic.loop.Trainer` built from the design config (backend,
objective, advantage, base control) with R runs at once; a :class:`SequenceController` plays a
precomputed knob sequence ``[K, R]`` on the chosen actuator. The sample time is one optimizer
step, so the design requires one update per rollout batch (``trainer.ppo_epochs = 1``,
``trainer.ppo_mini_batch_size = null``). Readings are the sensor values the trainer reports for
each step, measured before that step's update (see :mod:`entropic.tuning.sysid.models`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from entropic.control import Control
from entropic.controllers import ACTUATORS
from entropic.experiment import RunConfig, build_trainer
from entropic.loop import Trainer
from entropic.protocol import Observation
from entropic.tuning.design.config import DesignConfig
from entropic.tuning.processes import max_runs, run_apart
from entropic.tuning.sysid.signals import prbs_signal, step_signal

__all__ = ["ExcitationData", "OperatingPoint", "SequenceController", "design_trainer", "excitation_response",
           "operating_point", "run_sequence", "sequence_readings"]

log = logging.getLogger(__name__)

EXCITATION_SEED_OFFSET = 100
"""Excitation runs use seeds ``seed + 100 + r``; the operating-point search uses ``seed + r``."""


class SequenceController:
    """Plays a knob sequence ``[K, R]`` on an actuator (implements :class:`entropic.protocol.Controller`).

    Parameters
    ----------
    actuator : str
        Registered actuator name; the knob is in its units.
    knobs : array_like
        ``[K, R]`` knob value of every update and run; the last row repeats after step ``K - 1``.
    """

    def __init__(self, actuator: str, knobs: np.ndarray) -> None:
        self._spec = ACTUATORS.get(actuator)
        self.knobs = torch.as_tensor(np.asarray(knobs, dtype=np.float32))
        if self.knobs.dim() != 2:
            raise ValueError(f"SequenceController knobs must be [K, R], got shape {tuple(self.knobs.shape)}")
        self.updates = 0
        self.metrics: dict[str, torch.Tensor] = {}

    @property
    def drives(self) -> frozenset[str]:
        """The Control fields written."""
        return frozenset(self._spec.fields)

    def update(self, observation: Observation, control: Control) -> Control:
        """``control`` with the actuator's fields set to this update's knob row."""
        knob = self.knobs[min(self.updates, self.knobs.shape[0] - 1)]
        self.updates += 1
        self.metrics = {"controller/output": knob}
        return control.replace(**self._spec.values(knob))

    def state_dict(self) -> dict[str, Any]:
        """The position in the sequence."""
        return {"updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.updates = int(state["updates"])


def design_trainer(cfg: DictConfig, output_dir: str | Path, *, num_runs: int, seed: int,
                   controller: dict | None = None, steps: int = 1) -> Trainer:
    """A :class:`Trainer` from the training part of a design config (the ``design`` section dropped).

    Parameters
    ----------
    cfg : DictConfig
        A composed ``configs/design/default.yaml`` (or any training config).
    output_dir : str or Path
        Where the trainer writes ``config.yaml`` and ``metrics.jsonl``.
    num_runs, seed : int
        R and the seed of run 0 (run r uses ``seed + r``).
    controller : dict, optional
        A controller config (``configs/controller/`` format); ``None`` keeps the base control.
    steps : int, optional
        ``trainer.steps`` recorded in the written config.

    Returns
    -------
    Trainer
    """
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("design", None)
    data.update(num_runs=num_runs, seed=seed, run_seeds=None, resume=None, controller=controller)
    data["trainer"] = {**data.get("trainer", {}), "steps": steps, "tensorboard": False, "eval_every": 0,
                       "checkpoint_every": 0, "histogram_every": 0}
    train_cfg = OmegaConf.merge(OmegaConf.structured(RunConfig), data)
    trainer = build_trainer(train_cfg, output_dir)
    if trainer.config.ppo_epochs != 1 or trainer.config.ppo_mini_batch_size is not None:
        raise ValueError("entropic-design takes one optimizer step as the sample time: set trainer.ppo_epochs=1 "
                         "and trainer.ppo_mini_batch_size=null")
    return trainer


def run_sequence(trainer: Trainer, controller: SequenceController | None, sensor: str, steps: int,
                 extra: tuple[str, ...] = ()) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run ``steps`` training steps (logged to the trainer's ``metrics.jsonl``); return the readings ``[steps, R]``.

    Parameters
    ----------
    trainer : Trainer
        Built by :func:`design_trainer`.
    controller : SequenceController, optional
        Replaces the trainer's controller when given; the objective must read the fields it drives.
    sensor : str
        Metric returned (an Observation key such as ``entropy/mean``).
    steps : int
        Training steps.
    extra : tuple of str, optional
        Further metrics (``control/entropy_coeff``, ...) returned after the sensor's.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        ``[steps, R]`` readings of ``sensor`` (and of each ``extra`` metric).
    """
    if controller is not None:
        trainer.set_controller(controller)
    keys = (sensor, *extra)
    readings: list[list[np.ndarray]] = [[] for _ in keys]

    class Record:
        def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
            missing = [key for key in keys if key not in metrics]
            if missing:
                raise ValueError(f"{missing} not among the step's metrics; available: {sorted(metrics)}")
            for store, key in zip(readings, keys, strict=True):
                store.append(metrics[key].double().numpy())
            trainer.run_log.log(step, metrics)

    trainer.run([Record()], steps=steps)
    trainer.run_log.flush()
    arrays = tuple(np.stack(store) for store in readings)
    return arrays if extra else arrays[0]


def sequence_readings(cfg: DictConfig, output_dir: str | Path, *, seed: int, actuator: str, knobs: np.ndarray,
                      sensor: str) -> np.ndarray:
    """Play the knob sequences ``[K, R]`` on R runs (run r: seed ``seed + r``); the readings ``[K, R]`` of ``sensor``.

    The R runs share one backend; a backend whose factory declares ``max_runs`` below R gets one
    process per run instead (:mod:`entropic.tuning.processes`), each in ``output_dir/run_<r>``,
    with the same seed it would have in the batch.
    """
    knobs = np.asarray(knobs, dtype=np.float64)
    steps, runs = knobs.shape
    limit = max_runs(cfg.backend)
    if limit is None or runs <= limit:
        trainer = design_trainer(cfg, output_dir, num_runs=runs, seed=seed, steps=steps)
        return run_sequence(trainer, SequenceController(actuator, knobs), sensor, steps)
    jobs = [(OmegaConf.to_container(cfg, resolve=True), str(Path(output_dir) / f"run_{r}"), seed + r, actuator,
             knobs[:, r:r + 1], sensor) for r in range(runs)]
    columns = run_apart(_sequence_column, jobs)
    return np.concatenate(columns, axis=1)


def _sequence_column(cfg: dict, output_dir: str, seed: int, actuator: str, knobs: np.ndarray,
                     sensor: str) -> np.ndarray:
    """One run of :func:`sequence_readings`, in its own process."""
    return sequence_readings(OmegaConf.create(cfg), output_dir, seed=seed, actuator=actuator, knobs=knobs,
                             sensor=sensor)


@dataclass
class OperatingPoint:
    """The knob that holds the sensor at the target, and the search behind it.

    Attributes
    ----------
    knob : float
        Operating-point knob ``u0``.
    target : float
        Target sensor value (nats).
    grid : list of float
        Knobs tried (all passes).
    levels : list of float
        Each grid knob's mean reading over the last ``window`` steps.
    runaway : float, optional
        The first knob, walking the grid in the direction that raises the sensor, whose level reached
        ``design.operating_point.runaway`` of the maximum entropy (the policy near uniform: the toy LM's
        entropy jumps there past some entropy bonus); ``None`` if none did.
    direction : int
        The actuator's direction: +1 when a larger knob raises the sensor, -1 when it lowers it.
    """

    knob: float
    target: float
    grid: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    runaway: float | None = None
    direction: int = 1

    def respect_runaway(self, limits: list[float] | None, amplitude: float) -> tuple[list[float] | None, float]:
        """Knob limits ``[low, high]`` and an excitation amplitude that stay clear of :attr:`runaway`.

        The limit on the runaway's side moves to it; the amplitude drops to half the distance from the
        operating point to it. Unchanged when no runaway was seen; a ``ValueError`` when the operating
        point lies at or past it.
        """
        if self.runaway is None:
            return limits, amplitude
        if not self.direction * (self.runaway - self.knob) > 0:
            raise ValueError(f"the operating point {self.knob:.4g} lies at a runaway (knob {self.runaway:.4g}, levels "
                             f"{np.round(self.levels, 3).tolist()} on knobs {np.round(self.grid, 4).tolist()}); "
                             "pick a target further from it")
        low, high = (-math.inf, math.inf) if limits is None else limits
        low, high = (low, min(high, self.runaway)) if self.direction > 0 else (max(low, self.runaway), high)
        return [low, high], min(amplitude, 0.5 * abs(self.runaway - self.knob))


def operating_point(cfg: DictConfig, design: DesignConfig, output_dir: str | Path,
                    max_entropy: float | None = None) -> OperatingPoint:
    """Search the constant knob that holds ``design.sensor`` at ``design.target`` after the search steps.

    Each pass runs ``points`` constant-knob runs together and interpolates between the two
    neighbouring knobs whose levels bracket the target (in log knob on a geometric grid).
    ``design.operating_point.knob`` set skips the search. With ``max_entropy`` (nats) known, a level
    at ``design.operating_point.runaway`` of it marks a runaway (:class:`OperatingPoint`).
    """
    op = design.operating_point
    if op.knob is not None:
        return OperatingPoint(float(op.knob), design.target)
    direction = ACTUATORS.get(design.actuator).direction
    low, high = op.grid
    result = OperatingPoint(math.nan, design.target, direction=direction)
    for number in range(op.passes):
        geometric = low > 0
        knobs = np.geomspace(low, high, op.points) if geometric else np.linspace(low, high, op.points)
        readings = sequence_readings(cfg, Path(output_dir) / f"operating_point_{number}", seed=int(cfg.seed),
                                     actuator=design.actuator, knobs=np.tile(knobs, (op.steps, 1)),
                                     sensor=design.sensor)
        levels = readings[-op.window:].mean(0)
        result.grid += knobs.tolist()
        result.levels += levels.tolist()
        log.info("operating point pass %d: knobs %s -> levels %s", number, np.round(knobs, 4), np.round(levels, 3))
        _find_runaway(result, knobs, levels, direction, None if max_entropy is None else op.runaway * max_entropy)
        error = direction * (levels - design.target)  # rises with the knob when the actuator acts as declared
        crossing = [i for i in range(op.points - 1) if error[i] <= 0 <= error[i + 1]]
        if not crossing:
            raise ValueError(f"no knob in design.operating_point.grid={list(op.grid)} brings {design.sensor} to the "
                             f"target {design.target} (levels {np.round(levels, 3).tolist()}); widen the grid")
        i = crossing[0]
        x0, x1 = (np.log(knobs[i:i + 2]) if geometric else knobs[i:i + 2])
        weight = 0.0 if error[i + 1] == error[i] else -error[i] / (error[i + 1] - error[i])
        point = x0 + weight * (x1 - x0)
        result.knob = float(np.exp(point) if geometric else point)
        low, high = float(knobs[i]), float(knobs[i + 1])
    log.info("operating point: knob %.5g for %s = %g", result.knob, design.sensor, design.target)
    return result


def _find_runaway(point: OperatingPoint, knobs: np.ndarray, levels: np.ndarray, direction: int,
                  ceiling: float | None) -> None:
    """Record in ``point`` the first knob (in the direction that raises the sensor) whose level reached ``ceiling``."""
    if ceiling is None:
        return
    order = np.argsort(direction * knobs)
    past = np.flatnonzero(levels[order] >= ceiling)
    if past.size:
        runaway = float(knobs[order][past[0]])
        if point.runaway is None or direction * runaway < direction * point.runaway:
            point.runaway = runaway
            log.warning("runaway: the level reaches %.3g nats (the ceiling %.3g) at knob %.4g",
                        levels[order][past[0]], ceiling, runaway)


@dataclass
class ExcitationData:
    """Open-loop excitation around the operating point, as recorded.

    Attributes
    ----------
    base : float
        Operating-point knob ``u0``.
    du : numpy.ndarray
        ``[K, R]`` knob deviation from ``u0`` (0 during the warm-up).
    y : numpy.ndarray
        ``[K, R]`` sensor readings.
    warmup : int
        Steps before the excitation; the fit uses ``[warmup:]``.
    labels : list of str
        One per run: ``prbs A=... shift=...`` or ``step +A`` / ``step -A``.
    held_out : list of bool
        Runs kept out of the fit and used to score the models.
    seed : int
        Seed of run 0.
    """

    base: float
    du: np.ndarray
    y: np.ndarray
    warmup: int
    labels: list[str]
    held_out: list[bool]
    seed: int

    def window(self, held_out: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(du, y)`` of the excitation window, ``[K - warmup, R']``, of the training or held-out runs."""
        cols = [i for i, h in enumerate(self.held_out) if h == held_out]
        return self.du[self.warmup:, cols], self.y[self.warmup:, cols]


def excitation_signals(design: DesignConfig) -> tuple[np.ndarray, list[str], list[bool]]:
    """The excitation ``[steps, R]`` in knob units (before adding ``u0``), run labels and held-out flags."""
    ex = design.excitation
    columns, labels, held = [], [], []
    for r in range(ex.train_runs + ex.held_out_runs):
        amplitude = ex.amplitudes[r % len(ex.amplitudes)]
        shift = 37 * r + 11 * (r >= ex.train_runs)
        columns.append(amplitude * prbs_signal(ex.steps, ex.period, ex.order, shift))
        labels.append(f"prbs A={amplitude:g} shift={shift}")
        held.append(r >= ex.train_runs)
    if ex.held_out_steps:
        for sign in (1.0, -1.0):
            columns.append(sign * ex.amplitudes[0] * step_signal(ex.steps, 0))
            labels.append(f"step {sign * ex.amplitudes[0]:+g}")
            held.append(True)
    return np.stack(columns, axis=1), labels, held


def excitation_response(cfg: DictConfig, design: DesignConfig, base: float, output_dir: str | Path
                        ) -> ExcitationData:
    """Hold ``base`` for ``warmup`` steps, then excite around it; R runs (seeds ``seed + 100 + r``) at once."""
    ex = design.excitation
    signals, labels, held = excitation_signals(design)
    du = np.concatenate([np.zeros((ex.warmup, signals.shape[1])), signals])
    seed = int(cfg.seed) + EXCITATION_SEED_OFFSET
    y = sequence_readings(cfg, Path(output_dir) / "excitation", seed=seed, actuator=design.actuator, knobs=base + du,
                          sensor=design.sensor)
    return ExcitationData(base, du, y, ex.warmup, labels, held, seed)
