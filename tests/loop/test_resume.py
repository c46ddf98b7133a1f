"""A run killed with SIGKILL and resumed writes the same metrics.jsonl as an unbroken run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import complete_lines, kill_then_resume

from entropic.cli.train import train

ARGS = ["trainer.steps=300", "trainer.checkpoint_every=25", "trainer.eval_every=40", "trainer.tensorboard=false",
        "backend.num_prompts=16", "method=dapo", "trainer.ppo_mini_batch_size=8", "num_runs=2",
        "controller=pi_top_entropy_quantile", "objective.modifiers=[top_entropy]", "seed=3"]


def test_sigkill_then_resume_reproduces_the_unbroken_run(tmp_path: Path) -> None:
    expected, got = kill_then_resume(ARGS, steps=300, kill_after=110, directory=tmp_path, timeout=120)
    assert got == expected


def _config(make_config, *overrides: str):
    return make_config("trainer.steps=6", "trainer.checkpoint_every=4", *overrides)


def test_a_new_run_refuses_a_directory_holding_a_run(make_config, tmp_path: Path) -> None:
    train(_config(make_config), tmp_path)
    before = (tmp_path / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"already holds a run \(metrics.jsonl, checkpoints, summary.json\): "
                                         r"continue it with resume="):
        train(_config(make_config, "seed=7", "method=dapo"), tmp_path)
    assert (tmp_path / "config.yaml").read_text() == before  # refused before anything was written


def test_resume_before_the_first_checkpoint_starts_again_without_duplicates(make_config, tmp_path: Path,
                                                                           caplog) -> None:
    train(_config(make_config, "trainer.checkpoint_every=0"), tmp_path)  # 6 steps logged, no checkpoint
    (tmp_path / "summary.json").unlink()
    with caplog.at_level(logging.WARNING, logger="entropic.loop"):
        train(_config(make_config, f"resume={tmp_path}"), tmp_path / "unused")
    assert "starting again from step 0" in caplog.text
    assert [row["step"] for row in complete_lines(tmp_path / "metrics.jsonl")] == list(range(6))


def test_resume_takes_trainer_steps_and_refuses_other_changes(make_config, tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = train(_config(make_config), run)
    saved = (run / "summary.json").read_text()
    again = train(_config(make_config, f"resume={run}"), tmp_path / "unused", [f"resume={run}"])
    assert again == summary and (run / "summary.json").read_text() == saved  # finished: nothing to redo
    with pytest.raises(ValueError, match=r"refuses overrides that change its trajectory: seed=7 \(saved: 0\)"):
        train(_config(make_config, f"resume={run}", "seed=7"), tmp_path / "unused", [f"resume={run}", "seed=7"])
    train(_config(make_config, f"resume={run}", "trainer.steps=9"), tmp_path / "unused",
          [f"resume={run}", "trainer.steps=9", "trainer.checkpoint_every=4"])  # an unchanged value is accepted
    assert [row["step"] for row in complete_lines(run / "metrics.jsonl")] == list(range(9))


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_a_resumed_sent_run_keeps_its_curriculum_record(make_config, tmp_path: Path) -> None:
    # the checkpoint at step 4 falls between two refreshes (every 3 steps): the record since step 3 must survive
    sent = ("method=sent", "num_runs=2", "trainer.curriculum.refresh_every=3", "trainer.curriculum.stage_steps=6")
    unbroken = train(make_config("trainer.steps=9", "trainer.checkpoint_every=4", *sent), tmp_path / "unbroken")
    train(make_config("trainer.steps=5", "trainer.checkpoint_every=4", *sent), tmp_path / "run")
    resumed = train(make_config("trainer.steps=9", "trainer.checkpoint_every=4", f"resume={tmp_path / 'run'}", *sent),
                    tmp_path / "unused", [f"resume={tmp_path / 'run'}", "trainer.steps=9"])
    assert resumed["final"] == unbroken["final"]
    rows = {row["step"]: row for row in complete_lines(tmp_path / "run" / "metrics.jsonl")}
    expected = {row["step"]: row for row in complete_lines(tmp_path / "unbroken" / "metrics.jsonl")}
    assert rows[8]["curriculum/semantic_entropy"] == expected[8]["curriculum/semantic_entropy"]
