"""Schema of the ``tune`` section of ``configs/tune/*.yaml``: the study, its warm start and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from entropic.tuning.study.storage import check_no_password
from entropic.tuning.study.targets import TargetSettings

PRUNERS = ("none", "median", "hyperband", "successive_halving")
SAMPLERS = ("tpe", "random", "nsga2", "qmc")


@dataclass
class BaselineConfig:
    """A published method enqueued as a first trial.

    Attributes
    ----------
    method : str
        Preset of ``configs/method/`` (objective, advantage and its knobs).
    controller : str, optional
        Preset of ``configs/controller/`` or a controller YAML path; ``None`` = no controller.
    control : dict[str, float]
        Knob values on top of the preset's.
    law : dict
        Controller law fields on top of the preset's (e.g. its ``target`` set to the study's
        target entropy, so that the published gains are compared on the same task).
    """

    method: str = "grpo"
    controller: str | None = None
    control: dict[str, float] = field(default_factory=dict)
    law: dict[str, Any] = field(default_factory=dict)


@dataclass
class WarmStartConfig:
    """What the study's first trials are.

    Attributes
    ----------
    preset : bool
        Enqueue the search's starting point (the first law's controller as composed, e.g. the
        gains of ``configs/controller/pi_entropy_coeff.yaml``) as baseline ``preset``.
    baselines : dict[str, BaselineConfig]
        Published defaults, by name (DAPO, Skywork-OR1, EntroPIC in ``configs/tune/default.yaml``).
    design : list[str]
        Controller YAMLs with analytic (SIMC / IMC) gains, or directories holding them (a
        control-design output directory); each runs as baseline ``design:<file stem>`` with the
        study's objective.
    """

    preset: bool = True
    baselines: dict[str, BaselineConfig] = field(default_factory=dict)
    design: list[str] = field(default_factory=list)


@dataclass
class TuneConfig:
    """Schema of the ``tune`` section of ``configs/tune/*.yaml``.

    Attributes
    ----------
    study_name : str
        Name of the study in the storage; workers with the same name share it.
    storage : str, optional
        ``None``: ``sqlite:///<output dir>/study.db``; or any SQLAlchemy URL
        (``postgresql+psycopg://user@host:5432/db``).
    n_trials : int
        Trials the study should hold (finished, running or pruned; warm-start trials included);
        a re-run or another worker stops when the study has them.
    batch_size : int
        Trials simulated together (R = batch_size x seeds runs), >= 1.
    seeds : int
        S, seeds per trial: ``seed + s`` for s < S, the same for every trial. Range >= 1.
    heldout_seeds : int
        Seeds of the held-out comparison of the best trial with the defaults (0 = skip).
    heldout_offset : int
        Held-out seeds are ``seed + heldout_offset + s`` (never the tuning seeds).
    targets : list[str]
        What the study optimises: one target (a single-objective study) or several (multi-objective,
        Pareto front); see
        :mod:`entropic.tuning.study.targets` for the names.
    target_entropy : float, optional
        Entropy of the ``tracking_error`` target (nats).
    tail : float
        Share of the run averaged by ``tracking_error`` and ``final_reward``, in ``(0, 1]``.
    report_every : int
        Steps between intermediate values (0 = none, no pruning).
    pruner : str
        ``none``, ``median``, ``hyperband`` or ``successive_halving`` (single objective only).
    sampler : str
        ``tpe`` (default), ``random``, ``nsga2``, ``qmc``.
    sampler_seed : int, optional
        Seed of the sampler (a worker joining a running study adds the trial count to it).
    timeout_s : float, optional
        Stop asking for new batches after this many seconds (> 0).
    stale_after_s : float
        A running trial whose worker (on another machine) sent no heartbeat for this long is failed
        and retried; a dead worker on this machine is detected at once.
    space : dict
        The search space (:class:`entropic.tuning.study.space.SearchSpace`).
    warm_start : WarmStartConfig
        First trials.
    report, export : bool
        Write the report (held-out comparison, plots) and the best config at the end.
    threads : int, optional
        Torch intra-op threads of this worker (``None`` = torch's default). One thread per worker
        and one worker per core is fastest on a small CPU, and immune to other load.
    """

    study_name: str = "entropic"
    storage: str | None = None
    n_trials: int = 200
    batch_size: int = 50
    seeds: int = 5
    heldout_seeds: int = 5
    heldout_offset: int = 10_000
    targets: list[str] = field(default_factory=lambda: ["pass@1"])
    target_entropy: float | None = None
    tail: float = 0.5
    report_every: int = 200
    pruner: str = "median"
    sampler: str = "tpe"
    sampler_seed: int | None = 0
    timeout_s: float | None = None
    stale_after_s: float = 900.0
    space: Any = None
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    report: bool = True
    export: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_trials", "batch_size", "seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"tune.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("heldout_seeds", "report_every", "heldout_offset"):
            if getattr(self, name) < 0:
                raise ValueError(f"tune.{name} must be >= 0, got {getattr(self, name)}")
        if self.heldout_seeds and self.heldout_offset < self.seeds:
            raise ValueError(f"tune.heldout_offset must be >= tune.seeds={self.seeds} so that held-out seeds differ "
                             f"from the tuning seeds, got {self.heldout_offset}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"tune.pruner={self.pruner!r} is not allowed; allowed values: {list(PRUNERS)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"tune.sampler={self.sampler!r} is not allowed; allowed values: {list(SAMPLERS)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"tune.threads must be >= 1 or null, got {self.threads}")
        if not self.stale_after_s > 0:
            raise ValueError(f"tune.stale_after_s must be > 0, got {self.stale_after_s}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"tune.timeout_s must be > 0 seconds or null, got {self.timeout_s}")
        if self.storage:
            check_no_password(self.storage)

    def settings(self) -> TargetSettings:
        """The targets' constants."""
        return TargetSettings(self.target_entropy, self.tail)
