"""VAPO's positive-example LM loss (arXiv 2504.05118): the NLL of the batch's correct responses.

``pos_lm_coef * agg(-log pi_theta, mask * correct)``: a term that imitates the responses the verifier
accepts, added to the policy loss; with ``token-mean`` (VAPO's) it is the mean NLL over every token of
the correct responses of each run. ``correct`` is ``Rollout.extras["correct"]``, the verifier's verdict
(a demonstration that is correct counts too). The paper's weight ``mu`` is 0.1.
"""

from __future__ import annotations

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.config import ObjectiveConfig
from entropic.objectives.registry import Aggregate, Metrics, register_term
from entropic.reduce import knob_per_run


@register_term("pos_lm", reads=("pos_lm_coef",), inputs=("log_probs",))
def positive_lm_loss(batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
                     config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """``pos_lm_coef * agg(-log pi, mask * correct)`` ``[R]``; a run with no correct response adds 0."""
    correct = batch.require("correct", "pos_lm")
    nll = aggregate(-batch.log_probs, batch.mask * correct.unsqueeze(-1).to(batch.mask.dtype))  # [R]
    coeff = knob_per_run(control.pos_lm_coef, batch.num_runs, nll)
    return coeff * nll, {"actor/pos_lm_nll": nll.detach()}
