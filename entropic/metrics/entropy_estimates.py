"""Cheap token-entropy estimates for models whose vocabulary is too large to sweep every step.

- :func:`sampled_token_entropy`: ``-log pi(y_t)`` of the sampled token (Skywork-OR1's sensor);
  no vocabulary pass at all; unbiased per position, noisy.
- :func:`topk_entropy`: entropy of the renormalised top-k distribution; always a lower bound.
- :func:`topk_entropy_bounds`: an interval that contains the exact entropy, from the top-k
  probabilities and the tail mass ``1 - m``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from entropic.metrics.entropy import compute_dtype, entropy_from_logits


def sampled_token_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Monte-Carlo entropy estimate ``-log pi(y_t)`` from the sampled tokens' log-probs.

    Parameters
    ----------
    log_probs : FloatTensor [B, T]
        ``log pi(y_t | prefix)`` of each sampled token.

    Returns
    -------
    FloatTensor [B, T]
        ``-log_probs``, detached.

    Notes
    -----
    Bias and variance:

    - Per position it is unbiased, ``E_{y~pi}[-log pi(y)] = H(pi)``, only when ``y_t`` was drawn
      from the same distribution that scores it. Tokens drawn from ``q`` (an older policy, an
      inference engine, top-p or another temperature) give ``E = H(q) + KL(q || pi)``: the
      cross-entropy, biased upwards.
    - Its variance is the varentropy ``Var_pi(log pi)``, largest at high-entropy positions;
      the batch mean is noisy for small batches.
    - A token mean with random lengths is a ratio estimator (the length depends on the
      sampled tokens): consistent, with an ``O(1 / number of responses)`` bias.
    - It is a sensor, not a loss: ``E[grad(-log pi(y))] = 0``, not ``grad H``, hence detached.
    """
    return -log_probs.detach()


def topk_entropy(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Entropy of the top-k probabilities renormalised to sum to one.

    Parameters
    ----------
    logits : FloatTensor [..., V]
        Finite logits, any float dtype.
    k : int
        Number of most probable tokens kept, ``1 <= k <= V``; ``k = V`` is exact.

    Returns
    -------
    FloatTensor [...]
        ``H_k = H(p_topk / m)`` with ``m = sum(p_topk)``, with grad, in float32 at least (only
        the ``k`` kept logits are cast). Always ``H_k <= H``: the
        renormalised top-k vector majorises ``p`` and entropy is Schur-concave. The exact
        decomposition is ``H = h(m) + m H_k + (1 - m) H_tail`` (``h`` the binary entropy,
        ``H_tail`` the entropy of the renormalised tail), so the deficit ``H - H_k`` grows with
        the tail mass; see :func:`topk_entropy_bounds`.
    """
    _check_k(k, logits.shape[-1])
    top = torch.topk(logits, k, dim=-1).values  # [..., k]
    return entropy_from_logits(top.to(compute_dtype(top.dtype)))


class EntropyBounds(NamedTuple):
    """An interval ``[lower, upper]`` (FloatTensors ``[...]``) that contains the exact entropy."""

    lower: torch.Tensor
    upper: torch.Tensor


def topk_entropy_bounds(logits: torch.Tensor, k: int) -> EntropyBounds:
    """Bounds on the exact entropy from the top-k probabilities and the tail mass.

    Parameters
    ----------
    logits : FloatTensor [..., V]
        Finite logits.
    k : int
        Number of most probable tokens kept, ``1 <= k <= V``.

    Returns
    -------
    EntropyBounds
        ``lower <= H <= upper``, both ``[...]``, detached (a diagnostic: the bounds have no
        useful gradient where the tail mass rounds to 0); equal to ``H`` when ``k = V``.

    Notes
    -----
    With ``m`` the top-k mass, ``p_k`` the k-th largest probability and ``H_k`` from
    :func:`topk_entropy`, the exact grouping identity is
    ``H = h(m) + m H_k + (1 - m) H_tail``. The tail holds ``V - k`` tokens, each of probability
    at most ``p_k``, so ``max(0, log((1 - m) / p_k)) <= H_tail <= log(V - k)`` (min-entropy below,
    uniform tail above). The lower bound is never below ``H_k``. The width is
    ``(1 - m) log(V - k)`` at most: tight when the tail mass is small. ``m`` needs a
    ``logsumexp`` over the whole vocabulary, computed on a float32 (at least) copy of
    ``logits``: call this on row blocks when the vocabulary is large.
    """
    vocab = logits.shape[-1]
    _check_k(k, vocab)
    logits = logits.detach().to(compute_dtype(logits.dtype))
    if k == vocab:  # no tail
        exact = entropy_from_logits(logits)
        return EntropyBounds(lower=exact, upper=exact)
    top = torch.topk(logits, k, dim=-1).values  # [..., k], descending
    log_total = torch.logsumexp(logits, dim=-1)  # [...]
    log_top_mass = torch.logsumexp(top, dim=-1) - log_total
    top_mass = log_top_mass.exp()  # m
    tail_mass = (-torch.expm1(log_top_mass)).clamp(min=0.0)  # 1 - m, without cancellation
    log_smallest_top = top[..., -1] - log_total  # log p_k
    binary = -torch.special.xlogy(top_mass, top_mass) - torch.special.xlogy(tail_mass, tail_mass)
    known = binary + top_mass * entropy_from_logits(top)
    tail_floor = tail_mass * (torch.log(tail_mass) - log_smallest_top).clamp(min=0.0)
    tail_ceiling = tail_mass * math.log(vocab - k)
    return EntropyBounds(lower=known + tail_floor, upper=known + tail_ceiling)


def _check_k(k: int, vocab: int) -> None:
    if not 1 <= k <= vocab:
        raise ValueError(f"k must lie in [1, V={vocab}], got {k}")
