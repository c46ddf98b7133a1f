"""Micro-batching changes memory, not arithmetic: the update equals the whole mini-batch's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from entropic.experiment import build_trainer
from entropic.objectives import AGG_MODES

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = sorted(p.stem for p in (CONFIGS / "method").glob("*.yaml"))
# two epochs so that the second update sees ratios away from 1 (clipping, KL-Cov's penalty act)
COMMON = ["backend.seq_len=3", "backend.dtype=float64", "num_runs=2", "trainer.ppo_epochs=2",
          "trainer.ppo_mini_batch_size=6", "trainer.steps=2"]


def _parameters(trainer) -> list[torch.Tensor]:
    return [value.clone() for value in trainer.backend.policy.params.values()]


def _trained(make_config, tmp_path: Path, *overrides: str):
    trainer = build_trainer(make_config(*COMMON, *overrides), tmp_path)
    trainer.run()
    return trainer


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("micro", [1, 5])
def test_every_preset_takes_the_same_steps_in_micro_batches(preset: str, micro: int, make_config,
                                                            tmp_path: Path) -> None:
    whole = _trained(make_config, tmp_path / "whole", f"method={preset}")
    split = _trained(make_config, tmp_path / "split", f"method={preset}", f"trainer.ppo_micro_batch_size={micro}")
    assert split._micro_batches(split.backend.rollout()) is not None  # 6 groups x 4 responses > micro
    for before, after in zip(_parameters(whole), _parameters(split), strict=True):
        torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_every_aggregation_mode_gives_the_whole_mini_batch_gradient(mode: str, make_config, tmp_path: Path) -> None:
    overrides = ["method=entropy_bonus", "control.entropy_coeff=0.05", f"objective.loss_agg_mode={mode}",
                 "trainer.ppo_epochs=1", "trainer.steps=1"]
    whole = build_trainer(make_config(*COMMON, *overrides), tmp_path / "whole")
    split = build_trainer(make_config(*COMMON, *overrides, "trainer.ppo_micro_batch_size=3"),
                          tmp_path / "split")
    start = _parameters(whole)
    whole.run()
    split.run()
    rollout = split.backend.rollout()
    mini_batch = rollout.select(next(split._mini_batches(rollout)))
    assert len(split._micro_batches(mini_batch)) == 8  # 6 groups x 4 responses per run, 3 rows each
    moved = [(after - before).detach() for before, after in zip(start, _parameters(whole), strict=True)]
    assert max(float(step.abs().max()) for step in moved) > 1e-3  # the step is not trivially 0
    for before, step_whole, after in zip(start, moved, _parameters(split), strict=True):
        torch.testing.assert_close(after - before, step_whole, rtol=1e-9, atol=1e-12)

