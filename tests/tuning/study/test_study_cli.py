"""entropic-tune end to end on a tiny bandit: presets, batched = one at a time, failures, export."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState

from entropic.experiment import build_trainer
from entropic.tuning.study.cli import run_study
from entropic.tuning.study.storage import make_storage
from entropic.tuning.study.targets import TargetSettings, get_target

pytestmark = pytest.mark.usefixtures("one_thread")

NO_WARM_START = ["tune.warm_start.baselines={}", "tune.warm_start.preset=false"]


@pytest.mark.parametrize("preset", ["tune/default", "tune/pi_entropy_coeff", "tune/skywork", "tune/entropic_pi",
                                    "tune/clip_higher"])
def test_presets_run(tune_cfg, tmp_path: Path, preset: str) -> None:
    cfg = tune_cfg("trainer.steps=6", "tune.n_trials=2", "tune.batch_size=2", "tune.report_every=3",
                   "tune.warm_start.baselines={}", config_name=preset)
    summary = run_study(cfg, tmp_path)
    assert summary["counts"]["COMPLETE"] + summary["counts"]["PRUNED"] + summary["counts"]["FAIL"] == 2
    assert summary["counts"]["RUNNING"] == 0


def _values_by_params(url: str, name: str) -> dict[tuple, tuple]:
    study = optuna.load_study(study_name=name, storage=url)
    return {tuple(sorted(t.params.items())): tuple(t.values) for t in study.trials}


def test_batched_study_equals_one_trial_at_a_time(tune_cfg, tmp_path: Path) -> None:
    params = [{"controller.law.kp": kp, "controller.law.ki": ki} for kp, ki in
              [(0.3, 0.05), (0.02, 0.001), (3.0, 0.5), (0.1, 0.2)]]
    values = []
    for batch in (4, 1):
        url = f"sqlite:///{tmp_path / f'batch{batch}.db'}"
        study = optuna.create_study(study_name="s", storage=make_storage(url))
        for p in params:
            study.enqueue_trial(p)
        cfg = tune_cfg(f"tune.storage={url}", "tune.study_name=s", "tune.n_trials=4", f"tune.batch_size={batch}",
                       "tune.pruner=none", *NO_WARM_START)
        run_study(cfg, tmp_path / f"out{batch}")
        values.append(_values_by_params(url, "s"))
    assert len(values[0]) == 4
    assert values[0] == values[1]


def test_a_worker_with_another_setup_is_refused_naming_the_keys(tune_cfg, tmp_path: Path) -> None:
    common = ["tune.n_trials=2", "tune.batch_size=2", "tune.pruner=none", *NO_WARM_START]
    run_study(tune_cfg(*common), tmp_path)
    run_study(tune_cfg(*common, "tune.n_trials=3", "tune.report=false"), tmp_path)  # more trials: the same setup
    for change, named in (("trainer.steps=41", r"trainer\.steps=41 \(study: 40\)"), ("tune.seeds=3", r"tune\.seeds=3"),
                          ("objective.loss_agg_mode=seq-mean-token-mean", r"objective\.loss_agg_mode")):
        with pytest.raises(ValueError, match=rf"was run with another setup: {named}"):
            run_study(tune_cfg(*common, change), tmp_path)
    study = optuna.load_study(study_name="pi_entropy_coeff", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(study.trials) == 3 and study.user_attrs["setup"]["trainer.steps"] == 40


def test_workers_sharing_an_output_directory_keep_each_others_trials(tune_cfg, tmp_path: Path,
                                                                    monkeypatch) -> None:
    from entropic.tuning.study import cli

    for worker, n_trials in (("host-a:1", 2), ("host-b:2", 4)):
        monkeypatch.setattr(cli, "worker_id", lambda worker=worker: worker)
        run_study(tune_cfg(f"tune.n_trials={n_trials}", "tune.batch_size=2", "tune.pruner=none", *NO_WARM_START),
             tmp_path)
    summary = json.loads((tmp_path / "tune_summary.json").read_text())
    told = {worker: entry["told"] for worker, entry in summary["workers"].items()}
    assert told == {"host-a:1": [0, 1], "host-b:2": [2, 3]}


def test_failed_trials_are_recorded_with_their_reason(tune_cfg, tmp_path: Path) -> None:
    cfg = tune_cfg("tune.n_trials=8", "tune.sampler=random", "backend.optimizer=adam", *NO_WARM_START,
                   "+tune.space.params.backend.lr={low: 0.01, high: 1.0e38, log: true}",
                   "+tune.space.branches.pi.params.controller.law.output_min={low: -1.0, high: 0.9}",
                   "+tune.space.branches.pi.params.controller.law.output_max={low: -0.9, high: 1.0}")
    summary = run_study(cfg, tmp_path)
    study = optuna.load_study(study_name="pi_entropy_coeff", storage=summary["storage"])
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    reasons = {t.user_attrs["fail_reason"].split(":")[0] for t in failed}
    assert len(study.trials) == 8 and failed
    assert reasons <= {"diverged", "invalid config"}
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in study.trials)


def test_export_reproduces_the_trial_with_entropic_train(tune_cfg, tmp_path: Path) -> None:
    cfg = tune_cfg("tune.n_trials=5", "tune.export=true", "tune.pruner=none")
    summary = run_study(cfg, tmp_path)
    best = summary["best"][0]
    files = summary["export"]["files"]
    assert Path(files["controller"]).exists() and Path(files["method"]).exists()
    config_dir = Path(files["config"]).parent
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        run = compose(config_name=Path(files["config"]).stem, overrides=["num_runs=2", "trainer.tensorboard=false",
                                                                        "trainer.checkpoint_every=0"])
    trainer = build_trainer(run, tmp_path / "train")
    trainer.fit(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()]
    import torch

    from entropic.tuning.study.batch import Trace

    entropy = torch.tensor([row["entropy/mean"] for row in rows])
    trace = Trace(entropy, entropy, {}, torch.tensor([-1, -1]))
    value = get_target("tracking_error").value(trace, TargetSettings(target_entropy=1.0))
    assert value == pytest.approx(best["values"][0], rel=1e-6)


@pytest.mark.parametrize("pruner", ["hyperband", "successive_halving"])
def test_pruners_get_intermediate_values_per_trial(tune_cfg, tmp_path: Path, pruner: str) -> None:
    summary = run_study(tune_cfg(f"tune.pruner={pruner}", "tune.n_trials=8", "trainer.steps=30", *NO_WARM_START),
                   tmp_path)
    study = optuna.load_study(study_name="pi_entropy_coeff", storage=summary["storage"])
    assert all(t.intermediate_values and set(t.intermediate_values) <= {10, 20} for t in study.trials)
    assert summary["counts"]["COMPLETE"] + summary["counts"]["PRUNED"] == 8


def test_multi_objective_study_reports_the_pareto_front(tune_cfg, tmp_path: Path) -> None:
    summary = run_study(tune_cfg("tune.targets=[reward_auc,tracking_error]", "tune.n_trials=8", "tune.report=true",
                            "tune.export=true", "trainer.steps=20", "tune.warm_start.baselines={}"), tmp_path)
    study = optuna.load_study(study_name="pi_entropy_coeff", storage=summary["storage"])
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert {b["number"] for b in summary["best"]} == {t.number for t in study.best_trials}
    report = Path(summary["report"]).read_text()
    assert "Pareto front" in report and (tmp_path / "pareto.png").exists()
    assert set(summary["heldout"]["values"]["best"]) == {"reward_auc", "tracking_error"}
