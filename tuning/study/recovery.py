"""Trials left running by a dead worker: who owns a trial, whether its worker lives, and the retry.

Every trial is told as soon as its batch ends, so a killed worker loses only its running batch;
the next worker (or the re-run command) fails those trials with the reason, enqueues them again
and carries on until the study holds ``n_trials`` trials. A worker killed between ``study.ask()``
and naming itself leaves an ownerless running trial, failed and retried after a grace period.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

log = logging.getLogger(__name__)


def worker_id() -> str:
    """``host:pid`` of this process, the owner recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: finished or running, not those retried after a worker died."""
    count = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
            count += 1
        elif trial.state == TrialState.FAIL and not trial.user_attrs.get("retried"):
            count += 1
    return count


OWNERLESS_GRACE_S = 2.0
"""A running trial with no worker attribute this long after its start, while no other worker lives, was asked by a
worker that died."""
OWNERLESS_LIMIT_S = 120.0
"""... and this long, whatever lives: naming is the asking worker's next write, but on a shared SQLite file that
write may wait up to a minute for the lock, so while another worker lives it may be the one still naming."""


def fail_stale_trials(study: optuna.Study, stale_after_s: float, worker: str) -> list[int]:
    """Fail (with the reason) and re-enqueue running trials whose worker died; returns their numbers.

    A worker on this machine is dead when its process is gone; a worker elsewhere when its
    heartbeat (a study attribute refreshed during every batch) is older than ``stale_after_s``; a
    trial that never got its worker's name (killed between ask and naming) after
    :data:`OWNERLESS_GRACE_S` when no other worker lives, else after :data:`OWNERLESS_LIMIT_S`.
    """
    now, host = time.time(), socket.gethostname()
    heartbeats = {k[len("heartbeat:"):]: v for k, v in study.user_attrs.items() if k.startswith("heartbeat:")}
    failed = []
    def alive(owner: str, last_seen: float) -> bool:
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit():
            return _process_alive(int(pid))
        return now - last_seen <= stale_after_s

    others_alive = any(alive(owner, seen) for owner, seen in heartbeats.items() if owner != worker)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("worker")
        if owner == worker:
            continue
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        if owner is None:  # a live worker names itself right after asking; none means it died in between
            waited = now - started
            dead = waited > OWNERLESS_LIMIT_S or (waited > OWNERLESS_GRACE_S and not others_alive)
        else:
            dead = not alive(owner, heartbeats.get(owner, started))
        if not dead:
            continue
        storage = study._storage
        storage.set_trial_user_attr(trial._trial_id, "fail_reason",
                                    f"worker {owner or '?'} stopped before finishing the trial (killed?); retried")
        storage.set_trial_user_attr(trial._trial_id, "retried", True)
        try:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except (ValueError, RuntimeError):
            continue
        attrs = {}  # a sampled trial is sampled again from its params; a baseline carries its method
        if "baseline" in trial.user_attrs:
            attrs = {k: trial.user_attrs[k] for k in ("baseline", "method") if k in trial.user_attrs}
        study.enqueue_trial(dict(trial.params), user_attrs={**attrs, "retry_of": trial.number})
        failed.append(trial.number)
    if failed:
        log.warning("trials %s were left running by a dead worker: failed and enqueued again", failed)
    return failed


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status
