"""A study killed mid-run (SIGKILL of a real worker process) resumes with every finished trial kept."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tune_helpers import cli_args

pytestmark = pytest.mark.usefixtures("one_thread")

N_TRIALS = 10


def _complete(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as connection:
            return connection.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_study_resumes_with_finished_trials_kept(tmp_path: Path) -> None:
    args = cli_args([f"hydra.run.dir={tmp_path}", f"tune.n_trials={N_TRIALS}", "tune.batch_size=2",
                     "trainer.steps=60"])
    db = tmp_path / "study.db"
    worker = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _complete(db) < 4 and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.poll() is None, "the worker finished before it could be killed"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    storage = f"sqlite:///{db}"
    before = {t.number: (t.params, t.values) for t in optuna.load_study(study_name="pi_entropy_coeff",
                                                                        storage=storage).trials
              if t.state == TrialState.COMPLETE}
    assert len(before) >= 4

    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = optuna.load_study(study_name="pi_entropy_coeff", storage=storage).trials
    after = {t.number: (t.params, t.values) for t in trials if t.state == TrialState.COMPLETE}
    assert all(after[number] == kept for number, kept in before.items()), "a finished trial changed or vanished"
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    killed = [t for t in trials if t.user_attrs.get("retried")]
    assert all(t.state == TrialState.FAIL and "stopped before finishing" in t.user_attrs["fail_reason"]
               for t in killed)
    retries = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    assert retries == {t.number for t in killed}
    assert len(trials) - len(killed) == N_TRIALS
