"""Search spaces: bad configs fail with a named error before any trial; conditional sampling."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from entropic.experiment import validate
from entropic.tuning.study.batch import Method
from entropic.tuning.study.cli import run_study
from entropic.tuning.study.space import BRANCH_PARAM, SearchSpace, SearchSpaceError, load_preset, method_from_presets

pytestmark = pytest.mark.usefixtures("one_thread")

PI = load_preset("controller", "pi_entropy_coeff")
BASE = Method(objective={"terms": ["entropy"]}, controller=PI)


def _space(params: dict | None = None, branches: dict | None = None, base: Method = BASE) -> SearchSpace:
    return SearchSpace({"params": params or {}, "branches": branches or {}}, base)


@pytest.mark.parametrize(("params", "message"), [
    ({"control": {"clip_ratio_high": {"low": 0.4, "high": 0.2}}}, "low=0.4 > high=0.2"),
    ({"controller": {"law": {"kp": {"low": 0.0, "high": 1.0, "log": True}}}}, "log scale needs low > 0"),
    ({"controller": {"law": {"kp": {"low": -1.0, "high": 1.0, "log": True}}}}, "log scale needs low > 0"),
    ({"control": {"clip_ratio_hgih": {"low": 0.1, "high": 0.2}}}, "unknown knob 'control.clip_ratio_hgih'"),
    ({"controller": {"law": {"gain": {"low": 0.1, "high": 0.2}}}}, "unknown knob 'controller.law.gain'"),
    ({"controller": {"plant": {"x": {"low": 0.1, "high": 0.2}}}}, "unknown knob 'controller.plant.x'"),
    ({"backend": {"num_prompts": {"low": 1, "high": 8, "int": True}}}, "unknown knob 'backend.num_prompts'"),
    ({"trainer": {"steps": {"low": 1, "high": 8}}}, "unknown knob 'trainer.steps'.*curriculum"),
    ({"controller": {"law": {"kp": {"low": -1.0, "high": 1.0}}}}, "controller.law.kp must be a finite number >= 0"),
    ({"control": {"top_entropy_quantile": {"low": 0.1, "high": 1.5}}}, "top_entropy_quantile"),
    ({"controller": {"law": {"kp": {"low": 0.1, "high": 1.0, "log": True, "step": 0.1}}}}, "step"),
    ({"controller": {"law": {"anti_windup": {"choices": []}}}}, "non-empty list"),
])
def test_bad_space_raises_a_named_error(params: dict, message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _space(params)


def test_bad_space_fails_before_any_trial(tune_cfg, tmp_path: Path) -> None:
    cfg = tune_cfg("+tune.space.params.control.clip_ratio_high={low: 0.5, high: 0.1}")
    with pytest.raises(SearchSpaceError, match="clip_ratio_high"):
        run_study(cfg, tmp_path)
    assert not (tmp_path / "study.db").exists()


def test_law_params_need_the_law_they_belong_to() -> None:
    skywork = {"controller": "skywork_or1", "params": {"controller": {"law": {"kp": {"low": 0.1, "high": 1.0}}}}}
    with pytest.raises(SearchSpaceError, match="SkyworkConfig has no field 'kp'"):
        _space(branches={"skywork": skywork})


def test_conditional_space_samples_only_the_chosen_branch_params() -> None:
    branches = {
        "pi": {"params": {"controller": {"law": {"kp": {"low": 1e-3, "high": 1.0, "log": True},
                                                  "setpoint": {"low": 0.2, "high": 2.0}}}}},
        "skywork": {"controller": "skywork_or1",
                    "params": {"controller": {"law": {"delta": {"low": 1e-5, "high": 1e-2, "log": True}}}}},
    }
    space = _space(params={"control": {"clip_ratio_high": {"low": 0.2, "high": 0.3}}}, branches=branches)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    chosen = set()
    for _ in range(20):
        trial = study.ask()
        method = space.sample(trial)
        branch = trial.params[BRANCH_PARAM]
        chosen.add(branch)
        own = {"pi": {"pi:controller.law.kp", "pi:controller.law.setpoint"},
               "skywork": {"skywork:controller.law.delta"}}[branch]
        assert set(trial.params) == {BRANCH_PARAM, "control.clip_ratio_high"} | own
        assert method.controller["law"]["name"] == {"pi": "pi", "skywork": "skywork_adaptive"}[branch]
        assert method.control["clip_ratio_high"] == trial.params["control.clip_ratio_high"]
        assert space.method_of(trial.params) == method
        study.tell(trial, 0.0)
    assert chosen == {"pi", "skywork"}


def test_log_int_and_categorical_params() -> None:
    schedule = load_preset("controller", "linear_schedule")
    schedule["actuator"]["name"] = "entropic_alpha"
    base = Method(objective={"terms": ["entropic"]}, controller=schedule)
    space = _space(params={"controller": {"law": {
        "name": {"choices": ["linear", "cosine", "exponential"]},
        "start": {"low": -0.5, "high": 0.0}, "end": {"low": 0.0, "high": 0.5},
        "steps": {"low": 10, "high": 1000, "int": True, "log": True}}},
        "backend": {"lr": {"low": 8.0, "high": 64.0, "log": True}}}, base=base)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(10):
        method = space.sample(study.ask())
        law = method.controller["law"]
        assert law["name"] in ("linear", "cosine", "exponential")
        assert isinstance(law["steps"], int) and 10 <= law["steps"] <= 1000
        assert 8.0 <= method.lr <= 64.0
        validate(method.run_config())


def test_presets_of_the_methods_load() -> None:
    method = method_from_presets(BASE, "dapo", controller=None, keep_controller=False)
    assert method.controller is None and method.control["clip_ratio_high"] == 0.28
    with pytest.raises(SearchSpaceError, match="unknown controller preset 'nope'"):
        load_preset("controller", "nope")
