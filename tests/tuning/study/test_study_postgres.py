"""Two worker processes on one real PostgreSQL server share one study: no trial lost or duplicated."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tune_helpers import cli_args

pytestmark = pytest.mark.usefixtures("one_thread")

N_TRIALS, BATCH = 14, 2


@pytest.mark.postgres
def test_two_workers_share_one_study(postgres_url: str, tmp_path: Path) -> None:
    workers = [subprocess.Popen(cli_args([f"hydra.run.dir={tmp_path / f'worker{i}'}", f"tune.storage={postgres_url}",
                                          "tune.study_name=shared", f"tune.n_trials={N_TRIALS}",
                                          f"tune.batch_size={BATCH}", "trainer.steps=60"]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for i in range(2)]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials()
    states = Counter(t.state for t in trials)
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0
    # each worker may ask for one batch past the target while the other is finishing its own
    assert N_TRIALS <= len(trials) < N_TRIALS + 2 * BATCH
    told = [json.loads((tmp_path / f"worker{i}" / "tune_summary.json").read_text())["told"] for i in range(2)]
    assert all(told), "both workers ran trials"
    assert not set(told[0]) & set(told[1]), "no trial told twice"
    assert sorted(told[0] + told[1]) == sorted(t.number for t in trials), "no trial lost"
    owners = Counter(t.user_attrs["worker"] for t in trials)
    assert len(owners) == 2
    baselines = Counter(t.user_attrs["baseline"] for t in trials if "baseline" in t.user_attrs)
    assert set(baselines.values()) == {1} and set(baselines) == {"preset", "dapo", "skywork", "entropic"}
