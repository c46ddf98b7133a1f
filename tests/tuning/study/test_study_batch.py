"""Batched trials: the same values as the same trials run one at a time, whatever the batch holds."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from tune_helpers import compose_tune

from entropic.experiment import validate
from entropic.loop import TrainerConfig
from entropic.observe import observe
from entropic.tuning.study.batch import LEAN_SENSORS, Method, Simulator
from entropic.tuning.study.cli import run_config, warm_start_methods
from entropic.tuning.study.space import method_from_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _setup(tmp_path: Path, steps: int = 30, *overrides: str) -> tuple[Simulator, Method, dict[str, Method]]:
    cfg = compose_tune([f"trainer.steps={steps}", *overrides])
    run = run_config(cfg)
    from entropic.tuning.study.cli import tune_config

    simulator = Simulator(run["backend"], TrainerConfig(steps=steps), tmp_path / "sim")
    base = method_from_config(run)
    return simulator, base, warm_start_methods(tune_config(cfg), base)


def _pi(base: Method, kp: float, ki: float, setpoint: float, lr: float | None = None) -> Method:
    method = copy.deepcopy(base)
    method.controller["law"].update(kp=kp, ki=ki, setpoint=setpoint)
    method.lr = lr
    return method


def _assert_same(a, b) -> None:
    assert a.error == b.error
    assert torch.equal(a.trace.reward, b.trace.reward)
    assert torch.equal(a.trace.entropy, b.trace.entropy)
    assert a.trace.evals.keys() == b.trace.evals.keys()
    for step in a.trace.evals:
        for name, value in a.trace.evals[step].items():
            assert torch.equal(value, b.trace.evals[step][name]), (step, name)


def test_batched_trials_equal_trials_run_one_at_a_time(tmp_path: Path) -> None:
    simulator, base, defaults = _setup(tmp_path, steps=20)
    methods = [_pi(base, 0.3, 0.05, 1.2), _pi(base, 0.01, 0.001, 0.5), defaults["skywork"], _pi(base, 2.0, 0.2, 1.0)]
    seeds = [3, 4]
    reports: list[tuple[int, int, float]] = []

    def on_report(i: int, steps: int, trace) -> bool:
        reports.append((i, steps, float(trace.reward.sum())))
        return False

    batched = simulator.run(methods, seeds, report_every=5, on_report=on_report)
    for index, method in enumerate(methods):
        alone = simulator.run([method], seeds, report_every=5)[0]
        _assert_same(batched[index], alone)
        assert batched[index].trace.reward.shape == (20, 2)
    assert sorted({(i, s) for i, s, _ in reports}) == [(i, s) for i in range(4) for s in (5, 10, 15)]


def test_per_run_learning_rate_and_order_do_not_leak(tmp_path: Path) -> None:
    simulator, base, _ = _setup(tmp_path, steps=20)
    methods = [_pi(base, 0.3, 0.05, 1.2, lr=8.0), _pi(base, 0.3, 0.05, 1.2, lr=64.0)]
    forward = simulator.run(methods, [0, 1])
    backward = simulator.run(methods[::-1], [0, 1])
    _assert_same(forward[0], backward[1])
    _assert_same(forward[1], backward[0])
    assert not torch.equal(forward[0].trace.entropy, forward[1].trace.entropy)


def test_divergent_trial_fails_alone_and_leaves_the_others(tmp_path: Path) -> None:
    simulator, base, _ = _setup(tmp_path, 20, "backend.optimizer=adam")
    good, bad = _pi(base, 0.3, 0.05, 1.2, lr=0.05), _pi(base, 0.3, 0.05, 1.2, lr=1e38)  # Adam steps of 1e38 overflow
    runs = simulator.run([good, bad], [0, 1], report_every=5, on_report=lambda *args: False)
    assert runs[0].error is None
    assert runs[1].error is not None and runs[1].error.startswith("diverged: seed 0")
    _assert_same(runs[0], simulator.run([good], [0, 1], report_every=5)[0])


def test_invalid_trial_config_fails_with_its_reason(tmp_path: Path) -> None:
    simulator, base, _ = _setup(tmp_path, steps=5)
    bad = _pi(base, 0.3, 0.05, 1.2)
    bad.controller["law"]["output_min"] = 2.0
    runs = simulator.run([bad, _pi(base, 0.3, 0.05, 1.2)], [0])
    assert runs[0].error.startswith("invalid config:") and "output_min" in runs[0].error
    assert runs[1].error is None


def test_a_trial_is_refused_as_entropic_train_refuses_its_run_config(tmp_path: Path) -> None:
    simulator, base, _ = _setup(tmp_path, steps=5)
    out_of_range, word, two_values = (copy.deepcopy(base) for _ in range(3))
    out_of_range.control["clip_ratio_low"] = 1.5
    word.control["entropy_coeff"] = "abc"
    two_values.control["entropy_coeff"] = [0.1, 0.2]
    methods = [out_of_range, word, two_values, _pi(base, 0.3, 0.05, 1.2, lr=-1.0), _pi(base, 0.3, 0.05, 1.2)]
    errors = [run.error for run in simulator.run(methods, [0])]
    assert errors[0] == ("invalid config: control.clip_ratio_low must be a number in [0.0, 1.0], or a list of "
                         "num_runs=1 such numbers (one per run); got 1.5")
    assert errors[1].startswith("invalid config: control.entropy_coeff must be a number in [-inf, inf]")
    assert errors[2] == ("invalid config: control.entropy_coeff: a per-run list must hold num_runs=1 values (one per "
                         "run), got 2")
    assert errors[3].startswith("invalid config: backend.lr must be a finite number > 0")
    assert errors[4] is None
    for method, error in zip(methods[:4], errors[:4], strict=True):  # the same message as the one-run config's
        with pytest.raises(ValueError) as caught:
            validate(method.run_config())
        assert error == f"invalid config: {caught.value}"


def test_stopped_trials_end_their_group_early(tmp_path: Path) -> None:
    simulator, base, _ = _setup(tmp_path, steps=30)
    runs = simulator.run([_pi(base, 0.3, 0.05, 1.2)], [0], report_every=10, on_report=lambda *args: True)
    assert runs[0].stopped_at == 10 and runs[0].trace.reward.shape[0] == 10


def test_a_lean_study_observes_its_sensors_with_the_full_arithmetic(tmp_path: Path) -> None:
    simulator, base, _ = _setup(tmp_path, steps=1)
    trainer = simulator._build([validate(base.run_config())], [0, 1])
    rollout = trainer.backend.rollout()
    from entropic.advantages import compute_advantages

    advantages = compute_advantages(rollout, trainer.advantage)
    stats = trainer.backend.score(rollout, entropy="grad")
    full, lean = observe(0, rollout, stats, advantages), trainer.observe(0, rollout, stats, advantages)
    assert set(lean.values) == set(LEAN_SENSORS) and set(full.values) > set(LEAN_SENSORS)
    for name, value in lean.values.items():
        assert torch.equal(value, full.values[name]), name
