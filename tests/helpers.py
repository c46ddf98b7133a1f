"""Helpers shared by test folders: one torch thread for tiny models, and a training run killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch


def single_thread() -> Iterator[None]:
    """Run a test on one intra-op thread, then restore the setting (use as an autouse fixture).

    Tiny models gain nothing from a second thread, while OpenMP's spinning workers make a test 10-20x
    slower on a machine whose cores are busy with other work.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def complete_lines(path: Path) -> list[dict]:
    """The complete lines of a ``metrics.jsonl``: a line being written (or torn by a kill) ends without a newline."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def _train(args: Sequence[str], output: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "entropic.cli.train", *args, f"hydra.run.dir={output}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def kill_then_resume(args: Sequence[str], steps: int, kill_after: int, directory: Path,
                     timeout: float = 240) -> tuple[list[dict], list[dict]]:
    """``entropic-train args`` run unbroken, and run again, SIGKILLed once ``kill_after`` steps are logged and
    resumed; returns both ``metrics.jsonl`` (unbroken, resumed), each checked to hold steps ``0 .. steps - 1``."""
    unbroken = _train(args, directory / "unbroken")
    killed_dir = directory / "killed"
    victim = _train(args, killed_dir)
    deadline = time.monotonic() + timeout
    while len(complete_lines(killed_dir / "metrics.jsonl")) < kill_after and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert len(complete_lines(killed_dir / "metrics.jsonl")) < steps, "the run finished before it could be killed"
    resumed = subprocess.run([sys.executable, "-m", "entropic.cli.train", f"resume={killed_dir}",
                              f"hydra.run.dir={directory / 'resume-log'}"], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert unbroken.wait() == 0, unbroken.stderr.read()
    expected = complete_lines(directory / "unbroken" / "metrics.jsonl")
    got = complete_lines(killed_dir / "metrics.jsonl")
    assert [row["step"] for row in got] == list(range(steps))
    return expected, got
