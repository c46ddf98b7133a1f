"""Generalised advantage estimation with a learned value (verl ``gae``; arXiv 1506.02438), as VAPO uses it.

VAPO (arXiv 2504.05118) decouples the two lambdas of GAE: the critic regresses on returns taken with
``lam_critic`` (1.0: Monte-Carlo returns, unbiased), the policy's advantages use a smaller
``lam``, or a length-adaptive one, ``lambda = 1 - 1 / (alpha * L)`` for a response of ``L`` tokens,
so that the TD errors of a long response and of a short one are weighted alike. The values come
through the rollout (``Rollout.values``, filled by a backend with a critic); the critic's update is
the backend's (:class:`~entropic.protocol.SupportsCritic`).
"""

from __future__ import annotations

import torch

from entropic.advantages.config import AdvantageConfig
from entropic.advantages.registry import ADV_ESTIMATORS
from entropic.advantages.statistics import masked_whiten_per_run
from entropic.protocol import Rollout


def length_adaptive_lambda(lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """VAPO's ``lambda = 1 - 1 / (alpha * L)`` of each response, clamped to ``[0, 1]``: ``[B]``.

    The formula is negative below ``L = 1 / alpha`` tokens (20 at the paper's ``alpha = 0.05``); the
    clamp makes such a short response TD(0), the least variance GAE has (entropic's choice: the
    paper's responses are thousands of tokens long). An empty response gets 0.

    Parameters
    ----------
    lengths : FloatTensor [B]
        Valid tokens ``L`` of each response.
    alpha : float
        > 0.
    """
    return (1.0 - 1.0 / (alpha * lengths.clamp(min=1.0))).clamp(0.0, 1.0)


def generalized_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
                           lam: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and critic returns of token rewards, before any whitening.

    ``delta_t = r_t + gamma V_{t'} - V_t`` and ``A_t = delta_t + gamma lambda A_{t'}``, ``t'`` the next
    valid token (``V = A = 0`` past the last one); the returns are ``A + V``. A masked span inside a
    response (an observation turn) is skipped, as verl 0.9.1 does: its TD errors are dropped and the
    next valid token's value and advantage are carried across it.

    Parameters
    ----------
    rewards : FloatTensor [B, T]
        Token rewards (an outcome reward on the last valid token).
    values : FloatTensor [B, T]
        The critic's ``V`` at each token.
    mask : FloatTensor [B, T]
        Valid tokens.
    gamma : float
        Discount.
    lam : float or FloatTensor [B]
        GAE's lambda, shared or one per response.

    Returns
    -------
    advantages, returns : FloatTensor [B, T]
        On masked positions, the carried advantage (and ``A + V``); multiply by ``mask``.
    """
    lam = torch.as_tensor(lam, dtype=values.dtype, device=values.device).expand(values.shape[0])  # [B]
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])  # [B]
    running = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        valid = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        updated = delta + gamma * lam * running
        next_value = torch.where(valid > 0, values[:, t], next_value)
        running = torch.where(valid > 0, updated, running)
        advantages[:, t] = running
    return advantages, advantages + values


def _values(rollout: Rollout) -> torch.Tensor:
    if rollout.values is None:
        raise ValueError("advantage.adv_estimator='gae' needs the critic's values (Rollout.values): use a backend "
                         "with a critic (backend.critic=true)")
    return rollout.values


def policy_lambda(rollout: Rollout, config: AdvantageConfig) -> float | torch.Tensor:
    """The policy's lambda: ``config.lam``, or VAPO's length-adaptive one ``[B]`` when ``lam_alpha`` is set."""
    if config.lam_alpha is None:
        return config.lam
    return length_adaptive_lambda(rollout.lengths(), config.lam_alpha)


def critic_returns(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """The critic's regression targets ``[B, T]``: GAE returns with ``lam_critic`` (``lam`` when unset)."""
    lam = config.lam if config.lam_critic is None else config.lam_critic
    with torch.no_grad():
        _, returns = generalized_advantages(rollout.token_rewards(), _values(rollout), rollout.mask, config.gamma, lam)
    return returns


@ADV_ESTIMATORS.register("gae")
def gae(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """GAE advantages of the policy (verl ``gae``), whitened over the valid tokens of each run.

    ``A = masked_whiten(GAE(r, V, gamma, lambda_policy)) * mask`` with ``lambda_policy`` from
    :func:`policy_lambda` and ``V = Rollout.values``. Groups play no part: the critic is the baseline.

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``values`` [B, T], ``mask`` [B, T], ``run`` [B]; no ``weights``.
    config : AdvantageConfig
        ``gamma``, ``lam``, ``lam_alpha``.

    Returns
    -------
    FloatTensor [B, T]
    """
    if rollout.weights is not None:
        raise ValueError("advantage.adv_estimator='gae' does not support weighted (exact-expectation) rollouts "
                         "(Rollout.weights is set); use backend.mode=sampled")
    advantages, _ = generalized_advantages(rollout.token_rewards(), _values(rollout), rollout.mask, config.gamma,
                                           policy_lambda(rollout, config))
    return masked_whiten_per_run(advantages, rollout.mask, rollout.run_ids(), rollout.num_runs) * rollout.mask
