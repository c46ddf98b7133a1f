"""Four-quadrant decomposition of the one-step entropy change by token class.

Every token is high- or low-probability and has a positive or negative advantage. The PG-form
contributions of :func:`entropic.laws.predictor.token_entropy_contributions` add up, so the
predicted change of the mean entropy splits exactly into the four classes' sums. The reading of
The Entropy Mechanism (Cui et al., arXiv 2505.22617): high-probability tokens with positive
advantage lower entropy, low-probability ones with positive advantage raise it, and the signs flip
for negative advantages.

"High probability" is relative by default: ``pi_y >= exp(-H)``, i.e. the token is more likely
than ``1 / perplexity`` of its state; it is exactly where the token term of the PG kernel,
``pi_y (log pi_y + H)``, turns positive. A fixed threshold ``pi_y > p`` may be given instead.
"""

from __future__ import annotations

import torch

from entropic.laws.predictor import token_kernels, token_measure
from entropic.reduce import sum_per_run

QUADRANTS = ("high_pos", "high_neg", "low_pos", "low_neg")
"""Token classes: probability (high / low) x advantage sign (positive / negative)."""


def token_quadrants(prob: torch.Tensor, entropy: torch.Tensor, advantages: torch.Tensor,
                    high_prob: float | None = None) -> dict[str, torch.Tensor]:
    """Bool masks ``[B, T]`` of the four classes (tokens with ``A = 0`` belong to none).

    Parameters
    ----------
    prob : FloatTensor [B, T]
        ``pi_y`` of each token.
    entropy : FloatTensor [B, T]
        Entropy of each token's state (nats).
    advantages : FloatTensor [B, T]
        Token advantages.
    high_prob : float, optional
        Fixed threshold ``p``: high means ``pi_y > p``. ``None``: ``pi_y >= exp(-H)``.
    """
    high = prob >= torch.exp(-entropy) if high_prob is None else prob > high_prob
    pos, neg = advantages > 0, advantages < 0
    return {"high_pos": high & pos, "high_neg": high & neg, "low_pos": ~high & pos, "low_neg": ~high & neg}


def quadrant_entropy_change(logits: torch.Tensor, tokens: torch.Tensor, advantages: torch.Tensor,
                            mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                            weights: torch.Tensor | None = None, states: torch.Tensor | None = None,
                            high_prob: float | None = None) -> dict[str, torch.Tensor]:
    """Predicted change of each run's mean entropy per unit ``lr``, split by token class.

    Parameters
    ----------
    logits : FloatTensor [B, T, K]
        Full logits of each token's state.
    tokens, advantages, mask : [B, T]
        Sampled tokens, advantages, valid tokens.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    weights : FloatTensor [B], optional
        Row weights (exact-expectation rollouts).
    states : LongTensor [B, T], optional
        State ids (see :func:`entropic.laws.predictor.token_measure`).
    high_prob : float, optional
        Fixed high-probability threshold; default relative (``pi_y >= exp(-H)``).

    Returns
    -------
    dict[str, FloatTensor [R]]
        ``<class>``: sum of the class's PG-form contributions (the four add up to the predicted
        change); ``<class>/share``: the class's share of the run's valid token weight.
    """
    kernels = token_kernels(logits, tokens, states)
    contributions = -token_measure(mask, run, num_runs, weights, states) * advantages.detach() * kernels["pg"]
    return quadrant_sums(contributions, kernels, advantages, mask, run, num_runs, weights, high_prob)


def quadrant_sums(contributions: torch.Tensor, kernels: dict[str, torch.Tensor], advantages: torch.Tensor,
                  mask: torch.Tensor, run: torch.Tensor, num_runs: int, weights: torch.Tensor | None = None,
                  high_prob: float | None = None) -> dict[str, torch.Tensor]:
    """Split per-token contributions ``[B, T]`` by class, given :func:`~entropic.laws.predictor.token_kernels`.

    Returns the same dictionary as :func:`quadrant_entropy_change`.
    """
    weight = mask if weights is None else mask * weights.unsqueeze(-1)
    total = sum_per_run(weight.sum(-1), run, num_runs).clamp(min=1e-30)
    out: dict[str, torch.Tensor] = {}
    for name, member in token_quadrants(kernels["prob"], kernels["entropy"], advantages, high_prob).items():
        member = member.to(contributions.dtype) * mask
        out[name] = sum_per_run((contributions * member).sum(-1), run, num_runs)
        out[f"{name}/share"] = sum_per_run((weight * member).sum(-1), run, num_runs) / total
    return out
