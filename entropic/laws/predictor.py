"""The one-step entropy-change predictor of a batch, per token, and its check against a run's log.

A softmax state ``s`` with logits ``z`` changes its entropy by ``-Cov_pi(log pi, dz) + O(|dz|^2)``
under a logit step ``dz`` (The Entropy Mechanism, arXiv 2505.22617). One SGD step of size ``lr``
on tabular logits with the token-mean REINFORCE loss ``-sum_b w_b A_b log pi(y_b | s_b) / W`` (GRPO with one update per
batch: the ratio is 1, so the PPO surrogate has this gradient) moves state ``s`` by

    ``dz_s = lr sum_{b in s} (w_b / W) A_b (e_{y_b} - pi_s)``,

a sum of one term per token. The change of the run's mean token entropy
``H_bar = sum_s (W_s / W) H_s`` is therefore a sum of per-token contributions

    ``c_b = -lr (W_s / W) (w_b / W) A_b k_b``,  ``k_b = pi_y (log pi_y + H) - sum_a pi_a^2 (log pi_a + H)``

(the *PG form*; ``w_b`` = row weight, ``W_s`` = weight of the state's tokens, ``W`` = the run's).
The *NPG form* replaces the step by its natural-gradient counterpart, whose per-token kernel is
``k_b = log pi_y + H``: the token covariance ``(log pi - mean)(A - mean)`` that Clip-Cov, KL-Cov
and the ``entropy/cov_logp_adv`` sensor use. The PG form is exact to first order for SGD on a
tabular policy; the NPG form is the proxy. Both take the full logits ``TokenStats.logits``.
"""

from __future__ import annotations

import numpy as np
import torch

from entropic.laws.records import RunRecords
from entropic.laws.stats import pearson
from entropic.reduce import sum_per_run

FORMS = ("pg", "npg")
"""Kernels of :func:`token_entropy_contributions`: exact PG step, natural-gradient proxy."""


def token_kernels(logits: torch.Tensor, tokens: torch.Tensor, states: torch.Tensor | None = None
                  ) -> dict[str, torch.Tensor]:
    """Per-token ingredients of the first-order entropy change.

    Parameters
    ----------
    logits : FloatTensor [B, T, K]
        Full logits of each token's state.
    tokens : LongTensor [B, T]
        The sampled token of each position.
    states : LongTensor [B, T], optional
        State ids (see :func:`token_measure`); the distribution sums are then computed once per
        state, from its first token's logits.

    Returns
    -------
    dict[str, FloatTensor [B, T]]
        ``pg``: ``pi_y (log pi_y + H) - sum_a pi_a^2 (log pi_a + H)``; ``npg``: ``log pi_y + H``;
        ``entropy``: ``H``; ``prob``: ``pi_y``; ``bonus``: ``sum_a pi_a^2 (log pi_a + H)^2``, the
        first-order entropy gain of a unit entropy-bonus step (``|grad_z H|^2``).
    """
    B, T, K = logits.shape
    flat = logits.detach().reshape(B * T, K)
    if states is None:
        inverse = torch.arange(B * T, device=flat.device)
    else:
        ids, inverse = torch.unique(states.reshape(-1), return_inverse=True)
        first = torch.full((ids.numel(),), B * T, dtype=torch.long).scatter_reduce(
            0, inverse, torch.arange(B * T), "amin")
        flat = flat[first]  # [S, K]: one row of logits per state
    log_probs = torch.log_softmax(flat, dim=-1)  # [S, K]
    probs = log_probs.exp()
    entropy = -(probs * log_probs).sum(-1)  # [S]
    centred = log_probs + entropy.unsqueeze(-1)  # log pi_a + H
    weighted = probs * probs * centred
    spread, bonus = weighted.sum(-1), (weighted * centred).sum(-1)  # [S]
    token_log_prob = log_probs[inverse, tokens.reshape(-1)]  # [B * T]
    token_centred = token_log_prob + entropy[inverse]
    prob = token_log_prob.exp()
    out = {"pg": prob * token_centred - spread[inverse], "npg": token_centred, "entropy": entropy[inverse],
           "prob": prob, "bonus": bonus[inverse]}
    return {name: value.view(B, T) for name, value in out.items()}


def token_measure(mask: torch.Tensor, run: torch.Tensor, num_runs: int, weights: torch.Tensor | None = None,
                  states: torch.Tensor | None = None) -> torch.Tensor:
    """``(W_s / W) (w_b / W)`` of each token ``[B, T]``: its share in the loss times its state's share in ``H_bar``.

    Parameters
    ----------
    mask : FloatTensor [B, T]
        Valid tokens.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    weights : FloatTensor [B], optional
        Row weights (exact-expectation rollouts); ``None`` = 1.
    states : LongTensor [B, T], optional
        Id of each token's state, unique across runs: tokens with the same id share their logits
        (a bandit: ``group * T + t``). ``None``: every token is its own state.
    """
    measure = mask if weights is None else mask * weights.unsqueeze(-1)
    total = sum_per_run(measure.sum(-1), run, num_runs)[run].unsqueeze(-1)  # W of each row's run, [B, 1]
    share = measure / total.clamp(min=1e-30)
    if states is None:
        return share * share
    ids, inverse = torch.unique(states, return_inverse=True)
    state_share = torch.zeros(ids.numel(), dtype=share.dtype).index_add(0, inverse.reshape(-1), share.reshape(-1))
    return state_share[inverse] * share


def token_entropy_contributions(logits: torch.Tensor, tokens: torch.Tensor, advantages: torch.Tensor,
                                mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                                weights: torch.Tensor | None = None, states: torch.Tensor | None = None,
                                form: str = "pg") -> torch.Tensor:
    """Each token's first-order contribution to the change of its run's mean entropy, per unit ``lr``.

    Summed over a run's tokens, the ``pg`` form is ``dH_bar / lr`` of one SGD step on tabular
    logits with the token-mean REINFORCE loss (see the module docstring); multiply by the
    learning rate. Shapes: ``logits [B, T, K]``, ``tokens, advantages, mask [B, T]``, ``run [B]``,
    ``weights [B]``, ``states [B, T]`` -> ``[B, T]`` (0 on padding).
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    kernel = token_kernels(logits, tokens, states)[form]
    measure = token_measure(mask, run, num_runs, weights, states)
    return -measure * advantages.detach() * kernel


def predicted_entropy_change(logits: torch.Tensor, tokens: torch.Tensor, advantages: torch.Tensor,
                             mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                             weights: torch.Tensor | None = None, states: torch.Tensor | None = None,
                             form: str = "pg") -> torch.Tensor:
    """``[R]``: predicted change of each run's mean token entropy per unit ``lr`` (sum of the contributions)."""
    contributions = token_entropy_contributions(logits, tokens, advantages, mask, run, num_runs, weights, states,
                                                form)
    return sum_per_run(contributions.sum(-1), run, num_runs)


def observed_entropy_change(records: RunRecords, key: str = "entropy/mean") -> np.ndarray:
    """``[S, R]``: next logged value minus this one (NaN on the last step and across gaps in ``steps``).

    With one optimizer step per logged step, this is the realised change of the step's update: the
    loop's own ``entropy/delta``, which it logs one step later. Computed from ``entropy/mean`` so that
    logs without ``entropy/delta`` work too.
    """
    values = records[key]
    change = np.full_like(values, np.nan)
    consecutive = np.diff(records.steps) == 1
    change[:-1][consecutive] = (values[1:] - values[:-1])[consecutive]
    return change


def prediction_quality(predicted: np.ndarray, observed: np.ndarray) -> dict[str, np.ndarray]:
    """How well a prediction ``[S, R]`` matches the observed change ``[S, R]``, per run (NaN pairs skipped).

    Returns
    -------
    dict[str, ndarray [R]]
        ``correlation`` (Pearson over steps), ``relative_error`` (``sum |predicted - observed| /
        sum |observed|``, which stays finite where the change crosses zero), ``sign_agreement``
        (share of steps with equal sign) and ``slope`` (least squares ``observed ~ slope *
        predicted`` through the origin; 1 for an unbiased predictor).
    """
    runs = predicted.shape[1]
    out = {name: np.full(runs, np.nan) for name in ("correlation", "relative_error", "sign_agreement", "slope")}
    for r in range(runs):
        p, o = predicted[:, r], observed[:, r]
        keep = np.isfinite(p) & np.isfinite(o)
        p, o = p[keep], o[keep]
        if p.size == 0:
            continue
        out["correlation"][r] = pearson(p, o)
        if np.abs(o).sum() > 0:
            out["relative_error"][r] = float(np.abs(p - o).sum() / np.abs(o).sum())
        out["sign_agreement"][r] = float(np.mean(np.sign(p) == np.sign(o)))
        if np.dot(p, p) > 0:
            out["slope"][r] = float(np.dot(p, o) / np.dot(p, p))
    return out
