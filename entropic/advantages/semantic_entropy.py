"""Semantic entropy of each prompt's group: the entropy of its responses' answers, not of their tokens.

Responses that give the same answer mean the same (``Rollout.answer``: the arm of a bandit, the
verified answer value of the toy LM and the LLM tasks); a group of ``n`` responses falls into
clusters of sizes ``c_k`` and its semantic entropy is the plug-in entropy of the answer frequencies,

    ``SE = -sum_k (c_k / n) log(c_k / n) = -(1/n) sum_b log(c(b) / n)``,

``c(b)`` the size of row b's cluster (the discrete estimator of Farquhar et al., Nature 2024). It is
0 when every response gives one answer and ``log n`` when all differ, its largest value for ``n``
responses. A response without a parseable answer (``answer = -1``) is a cluster of its own.

Every quantity is a row value folded over its group (:class:`~entropic.advantages.statistics.Groups`),
so a run's groups get the same bits alone or batched.
"""

from __future__ import annotations

import torch

from entropic.advantages.statistics import Groups
from entropic.protocol import Rollout
from entropic.reduce import Segments
from entropic.tasks import NO_ANSWER


def cluster_sizes(answer: torch.Tensor, segments: Segments) -> torch.Tensor:
    """Size of each row's answer cluster within its group: ``[B]``.

    Parameters
    ----------
    answer : LongTensor [B]
        Answer id of each row, :data:`~entropic.tasks.NO_ANSWER` (-1) for none.
    segments : Segments
        The rows of each group.

    Returns
    -------
    LongTensor [B]
        The number of rows of the group with the row's answer (itself included); 1 for a row
        without an answer.
    """
    table = segments.table(answer, fill=NO_ANSWER)  # [K, W]: empty slots match nothing
    same = (table.unsqueeze(-1) == table.unsqueeze(-2)) & (table >= 0).unsqueeze(-1)  # [K, W, W]
    sizes = same.sum(-1).clamp(min=1)  # [K, W]
    if segments.slots is None:  # contiguous: group k's rows are the first n slots of its table row
        return sizes[:, :segments.rows_per_segment].reshape(-1)
    return sizes.reshape(-1)[segments.slots]


def semantic_entropy(rollout: Rollout, dtype: torch.dtype) -> tuple[torch.Tensor, Groups]:
    """Discrete semantic entropy of each group of a sampled rollout, in nats.

    Parameters
    ----------
    rollout : Rollout
        ``answer`` [B] and ``group`` [B]; sampled rows (no ``weights``).
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    entropy : FloatTensor [K]
        ``(1/n) sum_b log(n / c(b))`` of each group (in increasing group-id order), in ``[0, log n]``.
    groups : Groups
        The groups, with their sizes ``n``.
    """
    if rollout.answer is None:
        raise ValueError("semantic entropy needs Rollout.answer (each response's answer id), which this backend "
                         "did not fill")
    groups = Groups.of(rollout, dtype)
    sizes = cluster_sizes(rollout.answer, groups.segments).to(dtype)  # [B]
    inverse_frequency = groups.segments.combine(lambda c, n: n / c, sizes, groups.size)  # [B]: n / c(b)
    return groups.sum(torch.log(inverse_frequency)) / groups.size, groups
