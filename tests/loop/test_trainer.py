"""The shared loop: mini-batching, per-run identity through the whole step, divergence, multirun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.experiment import build_trainer
from entropic.loop import Diverged, Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.protocol import Observation


def _metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_mini_batches_hold_the_same_groups_of_every_run(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("num_runs=3", "trainer.ppo_mini_batch_size=3"), tmp_path)
    rollout = trainer.backend.rollout()  # 8 prompts x 4 responses per run
    batches = list(trainer._mini_batches(rollout))
    assert len(batches) == 3  # ceil(8 / 3)
    assert torch.equal(torch.sort(torch.cat(batches)).values, torch.arange(rollout.batch_size))
    for index, rows in enumerate(batches):
        groups_per_run = [torch.unique(rollout.group[rows][rollout.run[rows] == r]) for r in range(3)]
        assert all(g.numel() == min(3, 8 - 3 * index) for g in groups_per_run)
        local = [g - r * 8 for r, g in enumerate(groups_per_run)]  # bandit group ids are run * P + prompt
        assert all(torch.equal(local[0], other) for other in local)


def test_optimizer_steps_count_epochs_and_mini_batches(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("trainer.steps=2", "trainer.ppo_epochs=3", "trainer.ppo_mini_batch_size=4"),
                            tmp_path)
    trainer.fit(progress=False)
    assert trainer.optimizer_step == 2 * 3 * 2


def test_run_calls_back_after_every_step_and_stops_when_asked(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("trainer.steps=10", "trainer.eval_every=4"), tmp_path)
    seen: list[tuple[int, int, bool]] = []

    class StopAfterSix:
        def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> bool:
            seen.append((step, trainer.step, "eval/pass@1" in metrics))
            return step == 5

    metrics = trainer.run([StopAfterSix()])
    assert seen == [(step, step + 1, step % 4 == 0) for step in range(6)]  # evaluated at 0 and 4
    assert trainer.step == 6 and "reward/mean" in metrics
    assert trainer.run([StopAfterSix()])["eval/pass@1"].shape == (1,)  # resumes at 6; step 9 is the last
    assert [step for step, _, _ in seen[6:]] == [6, 7, 8, 9]
    assert trainer.run() is None  # nothing left to do


@pytest.mark.parametrize(("overrides", "expected"), [
    (["trainer.log_entropy=false"], "none"),
    ([], "detached"),  # logged
    (["trainer.log_entropy=false", "method=entropy_bonus", "controller=linear_schedule"], "grad"),
    (["trainer.log_entropy=false", "method=dapo", "controller=constant", "controller.actuator.name=clip_ratio_high",
      "controller.law.value=0.28"], "none"),  # open loop: reads no sensor
    (["trainer.log_entropy=false", "method=dapo", "controller=pi_entropy_coeff",
      "controller.actuator.name=clip_ratio_high", "controller.law.output_min=0.2", "controller.law.output_max=0.3"],
     "detached"),  # feedback on entropy/mean
])
def test_score_is_asked_for_entropy_only_as_needed(make_config, tmp_path: Path, overrides: list[str],
                                                   expected: str) -> None:
    trainer = build_trainer(make_config("trainer.steps=2", *overrides), tmp_path)
    asked = []
    score = trainer.backend.score

    def spy(rollout, entropy: str = "grad"):
        asked.append(entropy)
        return score(rollout, entropy=entropy)

    trainer.backend.score = spy
    metrics = trainer.run()
    assert trainer.entropy_mode == expected and set(asked) == {expected}
    assert ("entropy/mean" in metrics) == (expected != "none")


def test_run_among_others_equals_run_alone_through_controller_and_loop(make_config, tmp_path: Path) -> None:
    common = ["method=entropy_bonus", "controller=pi_entropy_coeff", "trainer.steps=25",
              "trainer.ppo_mini_batch_size=4", "trainer.ppo_epochs=2"]
    batched = build_trainer(make_config(*common, "num_runs=3", "run_seeds=[5,6,7]",
                                        "controller.law.kp=[0.1,0.3,0.9]"), tmp_path / "batched")
    batched.fit(progress=False)
    alone = build_trainer(make_config(*common, "seed=6", "controller.law.kp=0.3"), tmp_path / "alone")
    alone.fit(progress=False)
    rows_batched, rows_alone = _metrics(tmp_path / "batched"), _metrics(tmp_path / "alone")
    for row_b, row_a in zip(rows_batched, rows_alone, strict=True):
        assert set(row_b) == set(row_a)
        for name, value in row_a.items():
            if name != "step":
                assert row_b[name][1] == value, (row_a["step"], name)


def test_all_runs_diverging_stops_with_step_and_quantity(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("method=entropy_bonus", "control.entropy_coeff=1e30", "backend.lr=1e38",
                                        "trainer.steps=10"), tmp_path)
    with pytest.raises(Diverged, match=r"non-finite entropy at step 1 in every run; no checkpoint was written"):
        trainer.fit(progress=False)


def test_one_diverging_run_does_not_stop_the_others(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("method=entropy_bonus", "num_runs=2", "control.entropy_coeff=[0.0,1e30]",
                                        "backend.lr=[32.0,1e38]", "trainer.steps=5"), tmp_path)
    summary = trainer.fit(progress=False)
    assert summary["diverged_at_step"] == [-1, 1]
    assert summary["final_per_run"]["eval/pass@1"][0] > 0


def test_summary_reports_diverged_runs_apart_in_strict_json(make_config, tmp_path: Path) -> None:
    trainer = build_trainer(make_config("method=entropy_bonus", "num_runs=3", "control.entropy_coeff=[0.0,1e30,0.0]",
                                        "backend.lr=[32.0,1e38,32.0]", "trainer.steps=5", "trainer.eval_every=1"),
                            tmp_path)
    summary = trainer.fit(progress=False)
    written = json.loads((tmp_path / "summary.json").read_text(),
                         parse_constant=lambda name: pytest.fail(f"summary.json holds {name}"))
    assert written == json.loads(json.dumps(summary))
    assert summary["diverged_at_step"] == [-1, 1, -1]
    for section in ("final", "best"):  # means over the healthy runs 0 and 2, whatever run 1 froze at
        per_run = summary[f"{section}_per_run"]
        for name, value in summary[section].items():
            healthy = [per_run[name][0], per_run[name][2]]
            if None not in healthy:
                assert value == pytest.approx(sum(healthy) / 2), (section, name)
    assert summary["best"]["eval/pass@1"] > 0.5  # not -inf from the diverged run


def test_the_controller_view_zeroes_non_finite_readings_and_diverged_runs() -> None:
    observation = Observation(3, {"a": torch.tensor([1.0, float("nan"), 2.0]),
                                  "b": torch.tensor([float("inf"), 5.0, -1.0])})
    view = observation.finite(torch.tensor([False, False, True]))
    assert view.step == 3
    assert view["a"].tolist() == [1.0, 0.0, 0.0] and view["b"].tolist() == [0.0, 5.0, 0.0]


def test_a_diverging_run_under_a_controller_is_reported_by_the_guard(make_config, tmp_path: Path) -> None:
    common = ["method=entropy_bonus", "controller=pi_entropy_coeff", "backend.optimizer=adam", "trainer.steps=6"]
    batched = build_trainer(make_config(*common, "num_runs=2", "run_seeds=[3,4]", "backend.lr=[0.05,1e38]"),
                            tmp_path / "batched")
    summary = batched.fit(progress=False)  # the NaN entropy of run 1 reaches its PI law before the loss does
    assert summary["diverged_at_step"] == [-1, 1]
    alone = build_trainer(make_config(*common, "seed=3", "backend.lr=0.05"), tmp_path / "alone")
    alone.fit(progress=False)
    rows_batched, rows_alone = _metrics(tmp_path / "batched"), _metrics(tmp_path / "alone")
    for row_b, row_a in zip(rows_batched, rows_alone, strict=True):
        for name, value in row_a.items():
            if name != "step":
                assert row_b[name][0] == value, (row_a["step"], name)
    assert rows_batched[-1]["entropy/mean"][1] is None  # the diverged run's log keeps its NaN reading


KL_RESETS = ["method=kl_loss", "control.kl_loss_coef=0.1", "num_runs=2", "trainer.reference_reset_every=3",
             "trainer.steps=8"]


def test_reference_resets_zero_the_kl_at_their_steps(make_config, tmp_path: Path) -> None:
    build_trainer(make_config(*KL_RESETS), tmp_path).fit(progress=False)
    kl = torch.tensor([row["actor/kl_loss"] for row in _metrics(tmp_path)])  # [steps, R]
    assert torch.equal(kl[[3, 6]], torch.zeros(2, 2))  # first update after a reset: pi_theta = pi_ref
    assert bool((kl[[1, 2, 4, 5, 7]] > 0).all())


def test_resume_across_a_reference_reset_reproduces_the_unbroken_run(make_config, tmp_path: Path) -> None:
    options = [*KL_RESETS, "backend.optimizer=adam", "backend.lr=0.05", "trainer.reference_reset_optimizer=true",
               "trainer.eval_every=1"]  # the shortened first run evaluates its last step too
    build_trainer(make_config(*options), tmp_path / "unbroken").fit(progress=False)
    first = build_trainer(make_config(*options, "trainer.checkpoint_every=2"), tmp_path / "resumed")
    first.config.steps = 4  # stops after the reset of step 3, with its last checkpoint at step 4
    first.fit(progress=False)
    resumed = build_trainer(make_config(*options, "trainer.checkpoint_every=2"), tmp_path / "resumed")
    assert resumed.resume() and resumed.step == 4
    resumed.fit(progress=False)
    assert _metrics(tmp_path / "resumed") == _metrics(tmp_path / "unbroken")


def test_reference_resets_need_the_backend_capability(tmp_path: Path) -> None:
    objective = Objective(ObjectiveConfig(terms=["kl"]))
    cpu = torch.device("cpu")
    cases = ((SimpleNamespace(num_runs=1, device=cpu), False,
              r"reference_reset_every=5 needs a backend with reset_reference\(\)"),
             (SimpleNamespace(num_runs=1, device=cpu, reset_reference=lambda: None), True,
              r"reference_reset_optimizer=True needs a backend with reset_optimizer\(\)"))
    for backend, optimizer, message in cases:
        config = TrainerConfig(reference_reset_every=5, reference_reset_optimizer=optimizer)
        with pytest.raises(ValueError, match=message):
            Trainer(backend, objective, AdvantageConfig(), Control(), None, config, tmp_path, [0])


def test_multirun_sweeps_objectives_and_seeds(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "entropic.cli.train", "-m", "method=grpo,w_reinforce", "seed=0,1",
         "trainer.steps=2", "trainer.tensorboard=false", "backend.num_prompts=4", f"hydra.sweep.dir={tmp_path}"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summaries = sorted(tmp_path.glob("*/summary.json"))
    assert len(summaries) == 4
    objectives = sorted((path.parent / "config.yaml").read_text().split("policy_loss: ")[1].split()[0]
                        for path in summaries)
    assert objectives == ["reinforce", "reinforce", "vanilla", "vanilla"]
