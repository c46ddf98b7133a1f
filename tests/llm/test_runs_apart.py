"""Tools that need R runs of the LLM backend (one run per process) start R processes, each with its run's seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from llm_tiny import TINY
from omegaconf import DictConfig

from entropic.llm.backend import make_backend
from entropic.loop import TrainerConfig
from entropic.tuning.processes import max_runs
from entropic.tuning.study.batch import Method, Simulator
from entropic.tuning.study.targets import TargetSettings, get_targets, score_methods
from entropic.tuning.sysid.experiment import SequenceController, design_trainer, run_sequence, sequence_readings


def _design_config() -> DictConfig:
    backend = [f"backend.{k}={json.dumps(v)}" for k, v in TINY.items() if k != "task_args"]
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="design/default", overrides=[
            "backend=hf_tiny", *backend, "+backend.task_args={num_digits: 1, num_operands: 2}", "seed=3"])


def test_the_llm_backend_declares_one_run_per_process() -> None:
    assert max_runs({"_target_": "entropic.llm.make_backend"}) == 1 and make_backend.max_runs == 1
    assert max_runs({"_target_": "entropic.sims.make_backend"}) is None


def test_an_open_loop_experiment_runs_each_column_in_its_own_process_with_its_seed(tmp_path: Path) -> None:
    cfg = _design_config()
    knobs = np.array([[0.0, 0.2], [0.1, 0.3], [0.2, 0.0]])
    apart = sequence_readings(cfg, tmp_path / "apart", seed=3, actuator="entropy_coeff", knobs=knobs,
                              sensor="entropy/mean")
    assert apart.shape == (3, 2)
    # column 1, run here alone: the same seed (3 + 1) and the same knob sequence give the same readings
    trainer = design_trainer(cfg, tmp_path / "alone", num_runs=1, seed=4, steps=3)
    alone = run_sequence(trainer, SequenceController("entropy_coeff", knobs[:, 1:]), "entropy/mean", 3)
    np.testing.assert_allclose(apart[:, 1:], alone, rtol=1e-5)
    assert (tmp_path / "apart" / "run_0" / "metrics.jsonl").is_file()


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_a_study_simulation_runs_each_seed_of_each_method_apart(tmp_path: Path) -> None:
    backend = {"_target_": "entropic.llm.make_backend", **TINY}
    simulator = Simulator(backend=backend, trainer=TrainerConfig(steps=3), workdir=tmp_path)
    methods = {"grpo": Method(objective={"policy_loss": "vanilla"}),
               "bonus": Method(objective={"policy_loss": "vanilla", "terms": ["entropy"]},
                               control={"entropy_coeff": 0.05})}
    scores = score_methods(simulator, methods, [0, 1], get_targets(["tracking_error", "pass@1"]),
                           TargetSettings(target_entropy=0.5))
    for name, score in scores.items():
        assert score.error is None, name
        assert len(score.values["tracking_error"]) == 2 and len(score.entropy) == 3
    assert scores["grpo"].values["pass@1"] != scores["bonus"].values["pass@1"] or \
        scores["grpo"].entropy != scores["bonus"].entropy  # the two methods really ran differently
    assert len(list(tmp_path.glob("run_*"))) == 4
