"""Dynamic sampling on a scripted backend: the kept groups, the fillers, the metrics and the bound, by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.dynamic_sampling import draw_filtered
from entropic.group_filter import FilterGroupsConfig
from entropic.loop import Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.protocol import Rollout

DAPO = dict(enable=True, rule="mixed", metric="acc")


def draw_of(verdicts: list[list[list[int]]], draw: int) -> Rollout:
    """A rollout of R runs x P groups: ``verdicts[r][p]`` the 0/1 verdicts of group p of run r. Each row's
    token ``draw * 1000 + r * 100 + p * 10 + response`` says where it came from; group ids ``r * P + p``."""
    rows = [(r, p, g, v) for r, run in enumerate(verdicts) for p, group in enumerate(run) for g, v in enumerate(group)]
    P, B = len(verdicts[0]), len(rows)
    correct = torch.tensor([float(v) for *_, v in rows])
    return Rollout(tokens=torch.tensor([[draw * 1000 + r * 100 + p * 10 + g] for r, p, g, _ in rows]),
                   mask=torch.ones(B, 1), rewards=correct, group=torch.tensor([r * P + p for r, p, _, _ in rows]),
                   old_log_probs=torch.zeros(B, 1), run=torch.tensor([r for r, *_ in rows]),
                   num_runs=len(verdicts), extras={"correct": correct})


class Scripted:
    """A backend whose draws are given: ``script[d]`` is draw d's verdicts (the last repeats); records redraws."""

    def __init__(self, script: list[list[list[list[int]]]]) -> None:
        self.script, self.redraws, self.num_runs, self.device = script, [], len(script[0]), torch.device("cpu")

    def rollout(self) -> Rollout:
        return draw_of(self.script[0], 0)

    def redraw(self, draw: int) -> Rollout:
        self.redraws.append(draw)
        return draw_of(self.script[min(draw, len(self.script) - 1)], draw)


SCRIPT = [
    [[[1, 0], [1, 1], [0, 0]], [[1, 0], [0, 1], [1, 1]]],  # draw 0: run 0 keeps 1 group, run 1 keeps 2
    [[[0, 0], [1, 0], [1, 1]], [[1, 0], [1, 0], [0, 0]]],  # draw 1: 1 more for run 0; run 1 full (4 >= 3)
    [[[0, 1], [1, 0], [0, 0]], [[1, 1], [0, 0], [1, 1]]],  # draw 2: run 0 full (4); run 1 no longer draws
]


def groups_of(batch: Rollout, run: int) -> list[tuple[int, ...]]:
    """The tokens of each of ``run``'s groups in the batch, group by group."""
    rows = batch.run_ids() == run
    ids = batch.group[rows].unique_consecutive().tolist()
    return [tuple(batch.tokens[rows & (batch.group == i), 0].tolist()) for i in ids]


def test_each_run_keeps_its_first_mixed_groups_in_draw_order() -> None:
    backend = Scripted(SCRIPT)
    batch, metrics = draw_filtered(backend, FilterGroupsConfig(**DAPO, max_num_gen_batches=5))
    assert backend.redraws == [1, 2]  # run 0 needed draw 2; nobody needed a fourth
    assert groups_of(batch, 0) == [(0, 1), (1010, 1011), (2000, 2001)]
    assert groups_of(batch, 1) == [(100, 101), (110, 111), (1100, 1101)]
    assert batch.group.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # run * quota + slot
    assert metrics["sampling/draws"].tolist() == [3.0, 2.0]
    assert metrics["sampling/kept_fraction"].tolist() == pytest.approx([4 / 9, 4 / 6])
    assert metrics["sampling/shortfall"].tolist() == [0.0, 0.0]


def test_a_run_still_short_after_the_last_draw_fills_up_with_its_first_dropped_groups() -> None:
    backend = Scripted(SCRIPT)
    batch, metrics = draw_filtered(backend, FilterGroupsConfig(**DAPO, max_num_gen_batches=2))
    assert backend.redraws == [1]
    assert groups_of(batch, 0) == [(0, 1), (1010, 1011), (10, 11)]  # 2 kept, then draw 0's flat [1, 1]
    assert groups_of(batch, 1) == [(100, 101), (110, 111), (1100, 1101)]
    assert metrics["sampling/draws"].tolist() == [2.0, 2.0]
    assert metrics["sampling/kept_fraction"].tolist() == pytest.approx([2 / 6, 4 / 6])
    assert metrics["sampling/shortfall"].tolist() == [1.0, 0.0]


def test_never_loops_forever_on_flat_groups() -> None:
    flat = [[[[1, 1], [0, 0], [1, 1]]]]
    backend = Scripted(flat)
    batch, metrics = draw_filtered(backend, FilterGroupsConfig(**DAPO, max_num_gen_batches=4))
    assert backend.redraws == [1, 2, 3]
    assert groups_of(batch, 0) == [(0, 1), (10, 11), (20, 21)]  # the first dropped groups: draw 0's
    assert metrics["sampling/shortfall"].tolist() == [3.0] and metrics["sampling/kept_fraction"].tolist() == [0.0]
    assert metrics["sampling/draws"].tolist() == [4.0]


def test_one_draw_filters_without_drawing_again() -> None:
    backend = Scripted(SCRIPT)
    batch, metrics = draw_filtered(backend, FilterGroupsConfig(**DAPO, max_num_gen_batches=1))
    assert backend.redraws == [] and metrics["sampling/shortfall"].tolist() == [2.0, 1.0]
    assert groups_of(batch, 0) == [(0, 1), (10, 11), (20, 21)]


def random_script(seeds: list[int], draws: int, P: int = 4, G: int = 4, accuracy: float = 0.85
                  ) -> list[list[list[list[int]]]]:
    """Verdicts of each run drawn from its own seed and the draw number: a run's draws never depend on the others."""
    def run_draw(seed: int, d: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(seed * 1000 + d)
        return (torch.rand(P, G, generator=generator) < accuracy).int().tolist()
    return [[run_draw(seed, d) for seed in seeds] for d in range(draws)]


@pytest.mark.parametrize("seed", range(20))
def test_dynamic_sampling_never_returns_a_flat_group_while_the_filter_can_fill_the_batch(seed: int) -> None:
    seeds = list(range(seed * 7, seed * 7 + 5))
    batch, metrics = draw_filtered(Scripted(random_script(seeds, 6)), FilterGroupsConfig(**DAPO, max_num_gen_batches=6))
    for run in range(len(seeds)):
        verdicts = [batch.extras["correct"][(batch.run_ids() == run) & (batch.group == i)]
                    for i in range(run * 4, run * 4 + 4)]
        assert [len(v) for v in verdicts] == [4] * 4  # always the full quota of whole groups
        flat = sum(bool((v == v[0]).all()) for v in verdicts)
        assert flat == int(metrics["sampling/shortfall"][run])  # flat only where the filter ran out


def test_a_runs_batch_and_metrics_are_the_same_alone_or_among_others() -> None:
    seeds = [3, 14, 15, 92, 65]
    config = FilterGroupsConfig(**DAPO, max_num_gen_batches=4)
    batch, metrics = draw_filtered(Scripted(random_script(seeds, 4)), config)
    for run, seed in enumerate(seeds):
        alone, alone_metrics = draw_filtered(Scripted(random_script([seed], 4)), config)
        mine = batch.run_ids() == run
        assert torch.equal(alone.tokens[:, 0] % 100, batch.tokens[mine, 0] % 100)  # same groups of the same draws
        assert torch.equal(alone.tokens[:, 0] // 1000, batch.tokens[mine, 0] // 1000)
        assert all(torch.equal(alone_metrics[k][0], metrics[k][run]) for k in metrics)


class NoRedraw:
    num_runs, device = 1, torch.device("cpu")

    def rollout(self) -> Rollout:
        return draw_of(SCRIPT[0][:1], 0)


def _trainer(backend, filter_groups: FilterGroupsConfig, tmp_path: Path) -> Trainer:
    config = TrainerConfig(steps=1, eval_every=0, checkpoint_every=0, tensorboard=False, filter_groups=filter_groups)
    return Trainer(backend, Objective(ObjectiveConfig()), AdvantageConfig(), Control(), None, config, tmp_path, [0])


def test_the_loop_refuses_extra_draws_from_a_backend_that_cannot_redraw(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_num_gen_batches=10 needs a backend with redraw"):
        _trainer(NoRedraw(), FilterGroupsConfig(**DAPO), tmp_path)
    _trainer(NoRedraw(), FilterGroupsConfig(**DAPO, max_num_gen_batches=1), tmp_path)  # filtering alone is fine


def test_concat_keeps_rows_in_order_and_left_pads_token_prompts() -> None:
    def rows(prompt: list[list[int]]) -> Rollout:
        B = len(prompt)
        return Rollout(tokens=torch.arange(B).view(B, 1), mask=torch.ones(B, 1), rewards=torch.zeros(B),
                       group=torch.arange(B), old_log_probs=torch.zeros(B, 1), prompts=torch.tensor(prompt),
                       prompt_mask=torch.ones(B, len(prompt[0])))
    both = Rollout.concat([rows([[7, 8, 9]]), rows([[5], [6]])])
    assert both.tokens[:, 0].tolist() == [0, 0, 1]
    assert both.prompts.tolist() == [[7, 8, 9], [0, 0, 5], [0, 0, 6]]
    assert both.prompt_mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="prompt_mask is set in some rollouts and not in others"):
        Rollout.concat([rows([[7, 8, 9]]), replace(rows([[5]]), prompt_mask=None)])
    with pytest.raises(ValueError, match="different widths need Rollout.prompt_mask"):
        Rollout.concat([replace(rows([[7, 8, 9]]), prompt_mask=None), replace(rows([[5]]), prompt_mask=None)])
    with pytest.raises(ValueError, match="num_runs differ"):
        Rollout.concat([rows([[7]]), replace(rows([[5]]), num_runs=2)])
