"""Dynamic sampling: draw until every run's batch is full of kept groups, a bounded number of times.

One step with ``trainer.filter_groups.enable`` (DAPO, arXiv 2503.14476; verl's ``filter_groups``)::

    draws = [backend.rollout()]                                  # draw 0: the step's rollout
    while a run has fewer kept groups than its quota and len(draws) < max_num_gen_batches:
        draws.append(backend.redraw(len(draws)))                 # every run draws again
    batch = per run: its first quota kept groups, in draw order,
            then, if still short, its first dropped groups in draw order

A run's quota is the number of its groups in draw 0 (the backend's prompts per step), so the batch
has the shape of an unfiltered one. DAPO's recipe trainer in verl raises when ``max_num_gen_batches``
is reached (verl 0.9.1's own trainer ignores the bound and refills without limit); here the run
trains on a full batch whose missing groups are the filter's first rejects (plain GRPO's groups:
with the ``mixed`` rule, groups of zero GRPO advantage), and ``sampling/shortfall`` says how many.

A run alone equals the same run in a batch, to the bit: draw ``d`` of a run comes from its own
streams keyed by ``(rollout, d)`` (:class:`~entropic.protocol.SupportsRedraw`), a run's kept groups
are the first of its own draws, and every run's batch holds exactly its quota of groups, so the
later mini-batches and optimizer steps do not depend on the other runs either. A full run ignores
the draws the others still need.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import accumulate

import torch

from entropic.group_filter import FilterGroupsConfig, kept_groups
from entropic.protocol import Backend, Rollout
from entropic.reduce import run_segments


def draw_filtered(backend: Backend, config: FilterGroupsConfig) -> tuple[Rollout, dict[str, torch.Tensor]]:
    """The step's batch of kept groups and the sampling metrics ``[R]``.

    ``backend`` must support :class:`~entropic.protocol.SupportsRedraw` when ``max_num_gen_batches > 1``.

    Returns
    -------
    batch : Rollout
        Each run's quota of groups, run by run, with group ids ``run * max(quota) + slot`` (kept groups
        in slots ``0 ..``, in draw order, then the fillers).
    metrics : dict[str, FloatTensor [R]]
        ``sampling/draws``: the draws the run used (1: its first rollout filled it);
        ``sampling/kept_fraction``: the share of the groups of those draws that the filter kept;
        ``sampling/shortfall``: groups of its batch filled with dropped ones (0: the filter filled it).
    """
    draws = [backend.rollout()]
    R = draws[0].num_runs
    verdicts = [_verdict(draws[0], config)]
    quota, kept = _per_run(verdicts[0], R)
    drawn, qualified, used = quota.clone(), kept, torch.ones_like(quota)
    while len(draws) < config.max_num_gen_batches:
        short = qualified < quota
        if not bool(short.any()):
            break
        draws.append(backend.redraw(len(draws)))
        verdicts.append(_verdict(draws[-1], config))
        groups, kept = _per_run(verdicts[-1], R)
        used, drawn, qualified = used + short, drawn + short * groups, qualified + short * kept
    batch = _assemble(Rollout.concat(draws), verdicts, quota, R)
    filled = torch.minimum(qualified, quota)
    return batch, {"sampling/draws": used.float(), "sampling/kept_fraction": (qualified / drawn).float(),
                   "sampling/shortfall": (quota - filled).float()}


def _verdict(rollout: Rollout, config: FilterGroupsConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Of each group of ``rollout``: its run ``[K]``, whether it is kept ``[K]``; and each row's group ``[B]``."""
    groups, keep = kept_groups(rollout, config)
    return groups.first(rollout.run_ids()), keep, groups.index


def _per_run(verdict: tuple[torch.Tensor, ...], num_runs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Groups and kept groups of each run ``[R]`` (float64 counts) of one draw's verdict."""
    group_run, keep, _ = verdict
    segments = run_segments(group_run, num_runs)
    return segments.sum(torch.ones_like(keep, dtype=torch.float64)), segments.sum(keep.double())


def _assemble(pool: Rollout, verdicts: list[tuple[torch.Tensor, ...]], quota: torch.Tensor, num_runs: int
              ) -> Rollout:
    """The batch from the concatenated draws ``pool``: per run, the first ``quota`` kept groups in draw order,
    then the first dropped ones while short; rows run by run, slot by slot, in row order within a group."""
    offsets = accumulate([0] + [len(v[1]) for v in verdicts[:-1]])
    group_run = torch.cat([v[0] for v in verdicts])  # [K] over every draw, in draw order
    keep = torch.cat([v[1] for v in verdicts])
    row_group = torch.cat([v[2] + offset for v, offset in zip(verdicts, offsets, strict=True)])  # [B_pool]
    quota = quota.long()
    kept_rank, dropped_rank = _rank_in_run(keep, group_run, num_runs), _rank_in_run(~keep, group_run, num_runs)
    kept = torch.minimum(torch.bincount(group_run[keep], minlength=num_runs), quota)  # [R]
    slot = torch.where(keep, kept_rank, kept[group_run] + dropped_rank)  # [K]
    chosen = slot < quota[group_run]
    group_id = group_run * int(quota.max()) + slot
    rows = torch.nonzero(chosen[row_group], as_tuple=True)[0]
    ids = group_id[row_group[rows]]
    order = torch.argsort(ids, stable=True)
    return replace(pool.select(rows[order]), group=ids[order])


def _rank_in_run(flags: torch.Tensor, group_run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """LongTensor [K]: how many groups of the same run before each, in order, have ``flags`` set."""
    order = torch.argsort(group_run, stable=True)
    counts = torch.bincount(group_run, minlength=num_runs)
    before = flags[order].long().cumsum(0) - flags[order].long()  # exclusive count over the run-sorted groups
    first = (counts.cumsum(0) - counts)[group_run[order]]  # position of each group's run's first group
    rank = torch.empty_like(before)
    rank[order] = before - before[first]
    return rank
