"""Schema of ``configs/transfer/default.yaml``: the ladder of backends and what each rung compares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from entropic.tuning.design.config import DesignConfig
from entropic.tuning.transfer.gains import SETPOINT_MODES

CANDIDATES = ("transferred", "copied", "design", "tuned", "dapo", "skywork", "entropic")
"""Controllers a rung can compare: the source's gains carried by the plant ratios, the source's gains
unchanged, an analytic (SIMC) design on the rung, a study on the rung, and the published defaults."""


@dataclass
class RungTuneConfig:
    """The budget of a study on one rung (the other ``tune`` settings are ``configs/tune/default.yaml``'s).

    Attributes
    ----------
    n_trials : int
        Trials (>= 0); 0 makes no study (no ``tuned`` column; the source needs one unless
        ``transfer.controller`` is given).
    seeds : int
        Seeds per trial (>= 1).
    batch_size : int
        Trials simulated together (>= 1).
    report_every : int
        Steps between the pruner's intermediate values (0: no pruning).
    """

    n_trials: int = 0
    seeds: int = 3
    batch_size: int = 20
    report_every: int = 100

    def __post_init__(self) -> None:
        if self.n_trials < 0 or self.seeds < 1 or self.batch_size < 1 or self.report_every < 0:
            raise ValueError("transfer.rungs[].tune needs n_trials >= 0, seeds >= 1, batch_size >= 1 and "
                             f"report_every >= 0; got {self.n_trials}, {self.seeds}, {self.batch_size}, "
                             f"{self.report_every}")


@dataclass
class RungConfig:
    """One backend of the ladder; the first rung is the source.

    Attributes
    ----------
    name : str
        Label of the rung (table rows, sub-directory).
    backend : str
        Preset of ``configs/backend/``.
    overrides : list of str
        Further overrides of the rung's run config (``backend.task=sort``, ``control.clip_ratio_low=0.1``).
    setpoint : float, optional
        Target entropy on this rung, nats; ``None`` carries the source's (``transfer.setpoint_mode``).
    steps : int
        Steps of every run on this rung (tuning and held-out), >= 10.
    design : DesignConfig
        The identification and analytic design on this rung (``configs/design/default.yaml``'s section);
        its ``target`` becomes the rung's setpoint and its closed-loop validation is skipped (the
        ladder scores the design with the other candidates).
    tune : RungTuneConfig
        The budget of the study on this rung.
    """

    name: str = "bandit"
    backend: str = "bandit"
    overrides: list[str] = field(default_factory=list)
    setpoint: float | None = None
    steps: int = 600
    design: DesignConfig = field(default_factory=DesignConfig)
    tune: RungTuneConfig = field(default_factory=RungTuneConfig)

    def __post_init__(self) -> None:
        if self.setpoint is not None and not (math.isfinite(self.setpoint) and self.setpoint > 0):
            raise ValueError(f"transfer.rungs[{self.name}].setpoint must be a positive entropy (nats) or null, got "
                             f"{self.setpoint}")
        if self.steps < 10:
            raise ValueError(f"transfer.rungs[{self.name}].steps must be >= 10, got {self.steps}")

    @property
    def trials(self) -> int:
        """Trials of the study on this rung (0: none)."""
        return self.tune.n_trials


@dataclass
class TransferConfig:
    """The ``transfer`` section.

    Attributes
    ----------
    rungs : list of RungConfig
        The source first, then every target, cheapest first (>= 2 rungs).
    controller : str, optional
        A controller YAML tuned (or designed) on the source, or an ``entropic-tune`` output directory (its
        best PI/PID trial); ``None`` tunes one there with the source rung's ``tune`` budget.
    setpoint_mode : str
        ``absolute`` (a target rung's ``setpoint`` in nats; null keeps the source's nats) or ``relative``
        (the source setpoint's share of its initial entropy, applied to each target's initial entropy).
    heldout_seeds : int
        Seeds every candidate runs on, per rung (>= 1); seeds ``seed + heldout_offset + s``.
    heldout_offset : int
        Keeps held-out seeds apart from the seeds of tuning and identification (>= 1000).
    noise_rollouts : int
        Rollouts at the initial policy that measure a rung's noise floor and initial entropy (>= 2).
    candidates : list of str
        Columns of each target rung (:data:`CANDIDATES`).
    until : str, optional
        Name of the last rung to run; ``None`` runs every rung.
    """

    rungs: list[RungConfig] = field(default_factory=lambda: [
        RungConfig("bandit", "bandit", setpoint=1.5, tune=RungTuneConfig(n_trials=60)),
        RungConfig("toy_lm", "toy_lm", steps=400)])
    controller: str | None = None
    setpoint_mode: str = "absolute"
    heldout_seeds: int = 5
    heldout_offset: int = 20000
    noise_rollouts: int = 30
    candidates: list[str] = field(default_factory=lambda: list(CANDIDATES))
    until: str | None = None

    def __post_init__(self) -> None:
        names = [rung.name for rung in self.rungs]
        if len(set(names)) != len(names):
            raise ValueError(f"transfer.rungs names must be unique, got {names}")
        if self.until is not None:
            if self.until not in names[1:]:
                raise ValueError(f"transfer.until={self.until!r} must name a target rung; allowed values: {names[1:]}")
            self.rungs = self.rungs[:names.index(self.until) + 1]
        if len(self.rungs) < 2:
            raise ValueError(f"transfer.rungs needs a source and at least one target, got {len(self.rungs)} rung(s)")
        if self.setpoint_mode not in SETPOINT_MODES:
            raise ValueError(f"transfer.setpoint_mode={self.setpoint_mode!r}; allowed values: {list(SETPOINT_MODES)}")
        if self.rungs[0].setpoint is None:
            raise ValueError("transfer.rungs[0].setpoint (the source's target entropy, nats) is required")
        if self.setpoint_mode == "relative" and any(rung.setpoint is not None for rung in self.rungs[1:]):
            raise ValueError("transfer.setpoint_mode=relative carries the source's setpoint: leave the targets' "
                             "setpoint null")
        if self.controller is None and self.rungs[0].trials < 1:
            raise ValueError("transfer.controller is null, so the source is tuned: set transfer.rungs[0].tune.n_trials "
                             ">= 1, or give a controller YAML")
        if self.heldout_seeds < 1 or self.heldout_offset < 1000 or self.noise_rollouts < 2:
            raise ValueError("transfer needs heldout_seeds >= 1, heldout_offset >= 1000 and noise_rollouts >= 2; got "
                             f"{self.heldout_seeds}, {self.heldout_offset}, {self.noise_rollouts}")
        unknown = sorted(set(self.candidates) - set(CANDIDATES))
        if unknown or not self.candidates:
            raise ValueError(f"transfer.candidates {unknown or '[]'}: allowed values {list(CANDIDATES)}")


@dataclass
class TransferRunConfig:
    """Root schema of ``configs/transfer/default.yaml``."""

    seed: int = 0
    transfer: TransferConfig = field(default_factory=TransferConfig)


ConfigStore.instance().store(name="transfer_schema", node=TransferRunConfig)
