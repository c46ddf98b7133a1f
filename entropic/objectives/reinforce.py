"""Ratio-free policy gradients: ``L = -A * logp`` (verl ``gpg``; plain REINFORCE).

GPG (arXiv 2504.02546) pairs this loss with its own advantage estimator
(``adv_estimator="gpg"``). ``reinforce`` is the same per-token loss, the natural
base for PSR / NSR / W-REINFORCE experiments (Zhu et al., arXiv 2506.01347) with
``pos_weight``/``neg_weight`` modifiers.
"""

from __future__ import annotations

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.registry import PolicyLoss, register_policy_loss


@register_policy_loss("reinforce", inputs=())
@register_policy_loss("gpg", inputs=())
def reinforce_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """Per-token ``-A * logp``, given as its weight ``A``; the gradient is the REINFORCE estimator.

    It declares no inputs to check: :func:`~entropic.objectives.aggregation.linear_agg_loss` guards
    its own padding (a finite result proves the gradient is 0 there).
    """
    return PolicyLoss(pg_weight=batch.advantages.detach())
