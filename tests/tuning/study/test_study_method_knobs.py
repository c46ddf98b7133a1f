"""Studies of a method's own knobs (SEED-GRPO's alpha and scale, STEER's weight floor, LUFFY's gamma, PAR's
weight) run on the bandit."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_module

from entropic.tuning.study.batch import Method
from entropic.tuning.study.cli import run_study
from entropic.tuning.study.space import SearchSpace, SearchSpaceError, set_path

TINY = ["trainer.steps=6", "tune.n_trials=7", "tune.batch_size=4", "tune.seeds=1", "tune.report=false",
        "tune.report_every=0", "backend.num_prompts=8"]


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize(("preset", "params"), [("seed_grpo", {"advantage.seed_alpha", "advantage.seed_scaling"}),
                                                ("steer", {"objective.steer_weight_min"}),
                                                ("luffy", {"control.off_policy_gamma"}),
                                                ("par", {"control.pos_weight"})])
def test_a_method_preset_study_samples_its_config_fields_into_each_trial(preset: str, params: set[str],
                                                                         tmp_path: Path) -> None:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name=f"tune/{preset}", overrides=TINY)
    summary = run_study(cfg, tmp_path)
    assert summary["counts"]["COMPLETE"] == 7  # the preset and the published defaults first, then 3 searched
    study = optuna.load_study(study_name=preset, storage=f"sqlite:///{tmp_path / 'study.db'}")
    searched = [t for t in study.trials if params <= set(t.params)]
    assert searched, "no trial sampled the method's fields"
    for trial in searched:  # each trial's method holds the values Optuna sampled for it
        method = Method.from_dict(trial.user_attrs["method"])
        for path in params:
            root, field = path.split(".")
            assert getattr(method, root)[field] == trial.params[path]


def test_unknown_method_fields_are_refused_naming_the_fields() -> None:
    with pytest.raises(SearchSpaceError, match="advantage fields"):
        SearchSpace({"params": {"advantage": {"seed_alpah": {"low": 0.0, "high": 1.0}}}}, Method())
    with pytest.raises(SearchSpaceError, match="not allowed"):  # a bound the config dataclass refuses
        SearchSpace({"params": {"objective": {"steer_weight_min": {"low": 0.0, "high": 2.0}}}},
                    Method(objective={"modifiers": ["steer"]}))
    method = Method()
    set_path(method, "advantage.seed_alpha", 0.5)
    assert method.advantage == {"seed_alpha": 0.5}
