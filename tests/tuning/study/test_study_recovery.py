"""Another worker's trial that is asked but not yet named is left alone; one that was never named is retried."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from entropic.tuning.study import recovery
from entropic.tuning.study.storage import make_storage


def _asked_not_named(tmp_path: Path) -> tuple[optuna.Study, optuna.Trial]:
    study = optuna.create_study(study_name="s", storage=make_storage(f"sqlite:///{tmp_path / 'study.db'}"))
    study.enqueue_trial({"x": 1.0})
    return study, study.ask()  # RUNNING, and its worker has not yet written its name


@pytest.mark.parametrize(("waited", "asker_alive", "retried"),
                         [(30.0, True, False), (30.0, False, True), (300.0, True, True)])
def test_an_unnamed_trial_waits_for_a_live_worker_to_name_it(waited: float, asker_alive: bool, retried: bool,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Naming is the asking worker's next write; on a shared SQLite file it can wait up to a minute for the lock.
    While a worker beside this one lives (here: this process, by its heartbeat) the trial may be its, so it is left
    for two minutes; with no other worker alive it is retried after the short grace."""
    study, trial = _asked_not_named(tmp_path)
    asker = recovery.worker_id() if asker_alive else f"{recovery.socket.gethostname()}:999999999"
    study.set_user_attr(f"heartbeat:{asker}", recovery.time.time())
    now = recovery.time.time()
    monkeypatch.setattr(recovery.time, "time", lambda: now + waited)
    failed = recovery.fail_stale_trials(study, stale_after_s=900.0, worker="other-host:1")
    assert failed == ([trial.number] if retried else [])
    state = study.get_trials(deepcopy=False)[trial.number].state
    assert state == (optuna.trial.TrialState.FAIL if retried else optuna.trial.TrialState.RUNNING)
