"""SENT's semantic-entropy curriculum: the order and buckets from hand-worked semantic entropies, runs apart."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from entropic.curriculum import CurriculumConfig, SemanticEntropyCurriculum
from entropic.protocol import Rollout

F64 = torch.float64
CPU = torch.device("cpu")

# groups of 4 answers: SE 0; log 2; log 4; -(3/4 log 3/4 + 1/4 log 1/4)
ANSWERS = {0: [7, 7, 7, 7], 1: [1, 1, 2, 2], 2: [1, 2, 3, 4], 3: [5, 5, 5, 6]}
SE = {0: 0.0, 1: math.log(2), 2: math.log(4), 3: -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))}


def _rollout(prompts_by_run: list[list[int]], answers: dict[int, list[int]] = ANSWERS) -> tuple[Rollout, torch.Tensor]:
    """One group of 4 rows per (run, prompt), prompts in the order given; its pool index per row."""
    answer, run, prompt = [], [], []
    for r, prompts in enumerate(prompts_by_run):
        for p in prompts:
            answer += answers[p]
            run += [r] * 4
            prompt += [p] * 4
    B = len(answer)
    rollout = Rollout(tokens=torch.zeros(B, 1, dtype=torch.long), mask=torch.ones(B, 1, dtype=F64),
                      rewards=torch.zeros(B, dtype=F64), group=torch.arange(B) // 4,
                      old_log_probs=torch.zeros(B, 1, dtype=F64), answer=torch.tensor(answer), run=torch.tensor(run),
                      num_runs=len(prompts_by_run))
    return rollout, torch.tensor(prompt)


def test_order_and_buckets_from_known_semantic_entropies() -> None:
    curriculum = SemanticEntropyCurriculum(CurriculumConfig(enable=True, refresh_every=1, stages=2, stage_steps=5),
                                           1, 5, CPU)
    assert torch.equal(curriculum.weights(0), torch.ones(1, 5, dtype=F64))  # no estimate yet: the whole pool
    curriculum.observe(*_rollout([[2, 0, 3, 1]]))
    weights = curriculum.weights(1)  # refresh: SE 0 < 0.562 < log 2 < log 4; prompt 4 unseen, at their mean 0.660
    torch.testing.assert_close(curriculum.estimate[0, :4], torch.tensor([SE[p] for p in range(4)], dtype=F64))
    assert curriculum.order().tolist() == [[0, 3, 4, 1, 2]]
    assert weights.tolist() == [[1.0, 0.0, 0.0, 1.0, 0.0]]  # stage 0: ranks [0, 2)
    assert curriculum.weights(5).tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0]]  # stage 1 (the last): ranks [2, 5)
    metrics = curriculum.metrics(1, weights)
    torch.testing.assert_close(metrics["curriculum/semantic_entropy"], torch.tensor([SE[3] / 2], dtype=F64))
    assert metrics["curriculum/stage"].tolist() == [0.0]


def test_refresh_on_schedule_with_the_mean_of_the_record() -> None:
    curriculum = SemanticEntropyCurriculum(CurriculumConfig(enable=True, refresh_every=3, stages=1), 1, 4, CPU)
    curriculum.observe(*_rollout([[0, 1]]))
    changed = {0: [1, 2, 3, 4], 1: ANSWERS[1]}  # prompt 0 again, now every answer differs: SE log 4
    curriculum.observe(*_rollout([[0]], changed))
    for step in (1, 2):  # not yet due
        curriculum.weights(step)
        assert not curriculum.known.any()
    curriculum.weights(3)
    torch.testing.assert_close(curriculum.estimate[0, :2], torch.tensor([math.log(4) / 2, math.log(2)], dtype=F64))
    assert curriculum.known.tolist() == [[True, True, False, False]]
    curriculum.observe(*_rollout([[1]], {1: [9, 9, 9, 9]}))
    curriculum.weights(6)  # prompt 1 re-estimated from the new record only; prompt 0 keeps its estimate
    torch.testing.assert_close(curriculum.estimate[0, :2], torch.tensor([math.log(4) / 2, 0.0], dtype=F64))


def test_a_run_alone_equals_the_run_among_others() -> None:
    config = CurriculumConfig(enable=True, refresh_every=2, stages=2, stage_steps=3)
    together = SemanticEntropyCurriculum(config, 2, 4, CPU)
    alone = [SemanticEntropyCurriculum(config, 1, 4, CPU) for _ in range(2)]
    prompts = [[3, 1], [0, 2, 1]]
    for step in range(7):
        joint = together.weights(step)
        for r in range(2):
            assert torch.equal(alone[r].weights(step), joint[r:r + 1])
        together.observe(*_rollout(prompts))
        for r in range(2):
            alone[r].observe(*_rollout([prompts[r]]))
        prompts = [p[::-1] for p in prompts]


def test_state_dict_round_trip() -> None:
    config = CurriculumConfig(enable=True, refresh_every=1)
    curriculum = SemanticEntropyCurriculum(config, 1, 4, CPU)
    curriculum.observe(*_rollout([[0, 1, 2, 3]]))
    copy = SemanticEntropyCurriculum(config, 1, 4, CPU)
    copy.load_state_dict(curriculum.state_dict())
    assert torch.equal(copy.weights(1), curriculum.weights(1))


@pytest.mark.parametrize(("field", "value"), [("refresh_every", 0), ("stages", 0), ("stage_steps", -1),
                                              ("refresh_every", 2.5), ("stages", True)])
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"trainer.curriculum.{field}"):
        CurriculumConfig(**{field: value})


def test_a_pool_smaller_than_the_stages_is_refused() -> None:
    with pytest.raises(ValueError, match="trainer.curriculum.stages"):
        SemanticEntropyCurriculum(CurriculumConfig(stages=3), 1, 2, CPU)


def test_an_exact_rollout_is_refused() -> None:
    rollout, prompt = _rollout([[0, 1]])
    weighted = replace(rollout, weights=torch.ones(8, dtype=F64))
    with pytest.raises(ValueError, match="trainer.curriculum needs sampled groups"):
        SemanticEntropyCurriculum(CurriculumConfig(enable=True), 1, 4, CPU).observe(weighted, prompt)
