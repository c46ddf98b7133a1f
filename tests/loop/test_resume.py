"""A run killed with SIGKILL and resumed writes the same metrics.jsonl as an unbroken run."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entropic.cli.train import train

ARGS = ["trainer.steps=300", "trainer.checkpoint_every=25", "trainer.eval_every=40", "trainer.tensorboard=false",
        "backend.num_prompts=16", "objective=dapo", "trainer.ppo_mini_batch_size=8", "num_runs=2",
        "controller=pi_top_entropy_quantile", "objective.modifiers=[top_entropy]", "seed=3"]


def _train(output: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "entropic.cli.train", *ARGS, f"hydra.run.dir={output}", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _lines(path: Path) -> list[dict]:
    """Complete lines only: a line being written (or torn by the kill) ends without a newline."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def test_sigkill_then_resume_reproduces_the_unbroken_run(tmp_path: Path) -> None:
    unbroken = _train(tmp_path / "unbroken")
    killed_dir = tmp_path / "killed"
    victim = _train(killed_dir)
    deadline = time.monotonic() + 120
    while len(_lines(killed_dir / "metrics.jsonl")) < 110 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert len(_lines(killed_dir / "metrics.jsonl")) < 300, "the run finished before it could be killed"

    resumed = subprocess.run([sys.executable, "-m", "entropic.cli.train", f"resume={killed_dir}",
                              f"hydra.run.dir={tmp_path / 'resume-log'}"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert unbroken.wait() == 0, unbroken.stderr.read()
    expected, got = _lines(tmp_path / "unbroken" / "metrics.jsonl"), _lines(killed_dir / "metrics.jsonl")
    assert [row["step"] for row in got] == list(range(300))
    assert got == expected


def _config(make_config, *overrides: str):
    return make_config("trainer.steps=6", "trainer.checkpoint_every=4", *overrides)


def test_a_new_run_refuses_a_directory_holding_a_run(make_config, tmp_path: Path) -> None:
    train(_config(make_config), tmp_path)
    before = (tmp_path / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"already holds a run \(metrics.jsonl, checkpoints, summary.json\): "
                                         r"continue it with resume="):
        train(_config(make_config, "seed=7", "objective=dapo"), tmp_path)
    assert (tmp_path / "config.yaml").read_text() == before  # refused before anything was written


def test_resume_before_the_first_checkpoint_starts_again_without_duplicates(make_config, tmp_path: Path,
                                                                           caplog) -> None:
    train(_config(make_config, "trainer.checkpoint_every=0"), tmp_path)  # 6 steps logged, no checkpoint
    (tmp_path / "summary.json").unlink()
    with caplog.at_level(logging.WARNING, logger="entropic.loop"):
        train(_config(make_config, f"resume={tmp_path}"), tmp_path / "unused")
    assert "starting again from step 0" in caplog.text
    assert [row["step"] for row in _lines(tmp_path / "metrics.jsonl")] == list(range(6))


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
    assert [row["step"] for row in _lines(run / "metrics.jsonl")] == list(range(9))
