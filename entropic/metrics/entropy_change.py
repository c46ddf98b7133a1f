"""One-step entropy change of a tabular softmax policy: first-order law and exact value.

For ``pi = softmax(z)`` over ``K`` actions, ``dH/dz_b = -pi_b (log pi_b - E_pi[log pi])``, so a
logit step ``dz`` changes the entropy by

    ``dH = -Cov_{a~pi}(log pi(a), dz_a) + O(|dz|^2)``

(The Entropy Mechanism, Cui et al., arXiv 2505.22617). Two optimisers give two steps:

- exact (vanilla) policy gradient on ``J = E_pi[A]``: ``dz_a = lr * pi(a) (A(a) - E_pi A)``,
  so ``dH ~ -lr Cov(log pi, pi A)`` for centred ``A``;
- natural policy gradient: ``dz_a = lr * A(a)``, so ``dH ~ -lr Cov(log pi, A)``.

The predictors are ``O(lr)``, their error ``O(lr^2)``: the relative error shrinks linearly in
``lr``, which is what the laws suite checks against :func:`exact_entropy_change`.
"""

from __future__ import annotations

import torch

from entropic.metrics.entropy import entropy_from_logits

LearningRate = float | torch.Tensor
"""A step size: a float, or a tensor broadcastable to ``[..., K]`` (e.g. ``[..., 1]``)."""


def policy_covariance(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``Cov_{a~softmax(z)}(x(a), y(a))`` over the last dimension.

    Parameters
    ----------
    logits : FloatTensor [..., K]
        Logits ``z`` of the policy.
    x, y : FloatTensor [..., K]
        Functions of the action.

    Returns
    -------
    FloatTensor [...]
        ``sum_a pi(a) (x(a) - E_pi x) (y(a) - E_pi y)``.
    """
    probs = torch.softmax(logits, dim=-1)
    x_centred = x - (probs * x).sum(-1, keepdim=True)
    y_centred = y - (probs * y).sum(-1, keepdim=True)
    return (probs * x_centred * y_centred).sum(-1)


def pg_logit_step(logits: torch.Tensor, advantages: torch.Tensor, lr: LearningRate) -> torch.Tensor:
    """Logit step of one exact policy-gradient ascent step on ``E_pi[A]``.

    Parameters
    ----------
    logits : FloatTensor [..., K]
        Logits ``z``.
    advantages : FloatTensor [..., K]
        Advantage of each action (any offset: it cancels).
    lr : float or FloatTensor
        Step size.

    Returns
    -------
    FloatTensor [..., K]
        ``lr * pi(a) * (A(a) - E_pi A)``, the gradient of ``E_pi[A]`` in ``z`` times ``lr``.
    """
    probs = torch.softmax(logits, dim=-1)
    centred = advantages - (probs * advantages).sum(-1, keepdim=True)
    return lr * probs * centred


def npg_logit_step(advantages: torch.Tensor, lr: LearningRate) -> torch.Tensor:
    """Logit step of one natural policy-gradient step: ``lr * A`` (``[..., K]``)."""
    return lr * advantages


def predicted_entropy_change(logits: torch.Tensor, logit_step: torch.Tensor) -> torch.Tensor:
    """First-order entropy change ``-Cov_{a~pi}(log pi(a), dz_a)`` of a logit step.

    Parameters
    ----------
    logits : FloatTensor [..., K]
        Logits ``z`` before the step.
    logit_step : FloatTensor [..., K]
        ``dz``.

    Returns
    -------
    FloatTensor [...]
        Predicted ``H(softmax(z + dz)) - H(softmax(z))``, exact up to ``O(|dz|^2)``.
    """
    return -policy_covariance(logits, torch.log_softmax(logits, dim=-1), logit_step)


def predicted_entropy_change_pg(logits: torch.Tensor, advantages: torch.Tensor, lr: LearningRate) -> torch.Tensor:
    """``-lr * Cov_{a~pi}(log pi(a), pi(a) A_c(a))``: the law for an exact policy-gradient step.

    ``A_c = A - E_pi A`` (the gradient's own centring; equal to ``A`` for centred advantages).
    Shapes: ``logits, advantages [..., K] -> [...]``. See :func:`pg_logit_step`.
    """
    return predicted_entropy_change(logits, pg_logit_step(logits, advantages, lr))


def predicted_entropy_change_npg(logits: torch.Tensor, advantages: torch.Tensor, lr: LearningRate) -> torch.Tensor:
    """``-lr * Cov_{a~pi}(log pi(a), A(a))``: the law for a natural policy-gradient step.

    Shapes: ``logits, advantages [..., K] -> [...]``. See :func:`npg_logit_step`.
    """
    return predicted_entropy_change(logits, npg_logit_step(advantages, lr))


def exact_entropy_change(logits: torch.Tensor, logit_step: torch.Tensor) -> torch.Tensor:
    """Realised ``H(softmax(z + dz)) - H(softmax(z))`` (``[..., K] -> [...]``).

    Use float64 when ``dz`` is small: the difference of two ``O(1)`` entropies loses the
    relative precision of the dtype.
    """
    return entropy_from_logits(logits + logit_step) - entropy_from_logits(logits)
