"""The advantage estimators, registered under verl's ``algorithm.adv_estimator`` names (verl ``core_algos``).

Outcome estimators read ``s = rollout.sequence_rewards()`` ``[B]`` and return ``a[b] * mask[b, t]``.
Groups are rows sharing ``rollout.group``; every batch-level quantity (whitening, GPG's batch size
and non-zero count) is taken per run, so a run gets the same advantages alone or batched. A group
whose rewards are all equal gets advantages of exactly 0. Only GRPO (and Dr.GRPO) support weighted
(exact-expectation) rollouts.
"""

from __future__ import annotations

import torch

from entropic.advantages.config import AdvantageConfig
from entropic.advantages.registry import ADV_ESTIMATORS
from entropic.advantages.statistics import Groups, masked_whiten_per_run
from entropic.protocol import Rollout
from entropic.reduce import gather_runs, sum_per_run


def compute_advantages(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """Advantages ``[B, T]`` of ``rollout`` by the configured estimator (no grad)."""
    estimator = ADV_ESTIMATORS.get(config.adv_estimator)
    with torch.no_grad():
        return estimator(rollout, config)


def _scores(rollout: Rollout) -> torch.Tensor:
    """FloatTensor [B]: outcome reward ``s`` of each response."""
    scores = rollout.sequence_rewards()
    return scores if scores.is_floating_point() else scores.to(torch.get_default_dtype())


def _per_token(advantage: torch.Tensor, rollout: Rollout) -> torch.Tensor:
    """Broadcast a sequence advantage ``[B]`` over the valid tokens: ``[B, T]``."""
    return advantage.unsqueeze(-1) * rollout.mask


def _require_sampled(rollout: Rollout, config: AdvantageConfig) -> None:
    if rollout.weights is not None:
        raise ValueError(f"advantage.adv_estimator={config.adv_estimator!r} does not support weighted "
                         f"(exact-expectation) rollouts (Rollout.weights is set); use 'grpo'")


def _group_centred(rollout: Rollout, config: AdvantageConfig,
                   weights: torch.Tensor | None = None) -> tuple[torch.Tensor, Groups]:
    """``s - mu_g`` ``[B]`` of a sampled rollout, and its groups.

    ``mu_g`` is the group mean of the scores, weighted by ``weights`` ``[B]`` when given (OPO's
    lengths), and 0 for a group of one row.
    """
    _require_sampled(rollout, config)
    scores = _scores(rollout)
    groups = Groups.of(rollout, scores.dtype)
    weights = None if weights is None else weights.to(scores.dtype)
    return groups.centre(scores, groups.sampled_mean(scores, weights)), groups


@ADV_ESTIMATORS.register("grpo", "grpo_vectorized")
def grpo(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """GRPO and Dr.GRPO group-normalised outcome advantage (verl ``grpo``, ``grpo_vectorized``).

    ``a[b] = (s[b] - mu_g) / (sigma_g + epsilon)``, or ``s[b] - mu_g`` when
    ``norm_adv_by_std_in_grpo`` is False (Dr.GRPO), with ``mu_g`` the group mean and ``sigma_g``
    the unbiased group std (divides by ``n_g - 1``). A group of one row has ``mu = 0, sigma = 1``, so
    ``a = s / (1 + epsilon)``, in verl's loop and vectorised versions alike (the vectorised one takes
    its std with no variance floor). A group of equal rewards gets exactly 0, as the formula says;
    verl does not always: its float32 group mean of equal non-dyadic rewards (0.1, say) can miss
    them by a rounding residue, which the division by ``sigma + 1e-6`` blows up to advantages of a
    few hundredths.

    Weighted rollouts (``w_b = G * pi(b)``, a group's weights sum to G) use the expectation:
    ``mu_g = sum w s / sum w`` and the population std ``sigma_g = sqrt(sum w (s - mu_g)^2 / sum w)``;
    Bessel's correction has no meaning for an expectation, and there is no singleton rule. This is
    the limit of sampled GRPO for many samples per group.

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` [B, T], ``group`` [B], optional ``weights`` [B].
    config : AdvantageConfig
        ``norm_adv_by_std_in_grpo``, ``epsilon``.

    Returns
    -------
    FloatTensor [B, T]
    """
    scores = _scores(rollout)
    groups = Groups.of(rollout, scores.dtype)
    if rollout.weights is None:
        centred = groups.centre(scores, groups.sampled_mean(scores))
        std = groups.sample_std(centred)
    else:
        weights = rollout.weights.to(scores.dtype)
        centred = groups.centre(scores, groups.mean(scores, weights))
        std = groups.population_std(centred, weights)
    if not config.norm_adv_by_std_in_grpo:
        return _per_token(centred, rollout)
    return _per_token(groups.segments.combine(torch.div, centred, std + config.epsilon), rollout)


@ADV_ESTIMATORS.register("rloo", "rloo_vectorized")
def rloo(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """REINFORCE leave-one-out (verl ``rloo``, ``rloo_vectorized``; arXiv 2402.14740).

    ``a[b] = n/(n-1) * (s[b] - mu_g) = s[b] - mean_{b' in g, b' != b} s[b']`` for a group of
    ``n > 1`` rows; ``a = s`` for a group of one row (verl's loop version; its vectorised version
    gives 0 there).

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` [B, T], ``group`` [B]; no ``weights``.
    config : AdvantageConfig
        Only ``adv_estimator`` is read.

    Returns
    -------
    FloatTensor [B, T]
    """
    centred, groups = _group_centred(rollout, config)
    size = groups.size
    factor = torch.where(size > 1, size / (size - 1).clamp(min=1), torch.ones_like(size))  # [K]
    return _per_token(groups.rows(factor) * centred, rollout)


@ADV_ESTIMATORS.register("opo")
def opo(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """OPO optimal baseline (verl ``opo``; arXiv 2505.23585): length-weighted group mean.

    ``b_g = sum_{b in g} L_b s[b] / sum_{b in g} L_b`` with ``L_b`` the valid tokens of row b,
    ``a[b] = s[b] - b_g``; ``b_g = 0`` for a group of one row. No std normalisation.

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` [B, T], ``group`` [B]; no ``weights``.
    config : AdvantageConfig
        Only ``adv_estimator`` is read.

    Returns
    -------
    FloatTensor [B, T]
    """
    centred, _ = _group_centred(rollout, config, weights=rollout.lengths())
    return _per_token(centred, rollout)


def _discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """``G[b, t] = r[b, t] + gamma * G[b, t']`` over valid tokens, ``t'`` the next valid one: ``[B, T]``.

    A masked span (a tool or observation turn) is skipped, not a boundary: the running return is
    carried through it unchanged, its rewards are dropped and its returns are 0 (verl 0.9.1
    ``compute_reinforce_plus_plus_outcome_advantage``).
    """
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])  # [B]
    for t in reversed(range(rewards.shape[1])):
        valid = mask[:, t]
        updated = rewards[:, t] + gamma * running
        returns[:, t] = updated * valid
        running = updated * valid + running * (1 - valid)  # updated where valid, carried where masked
    return returns


@ADV_ESTIMATORS.register("reinforce_plus_plus")
def reinforce_plus_plus(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """REINFORCE++ (verl ``reinforce_plus_plus``; arXiv 2501.03262): whitened discounted returns.

    ``G[b, t] = sum_{t' >= t} gamma^(t' - t) r[b, t']`` over ``rollout.token_rewards()`` (an outcome
    reward sits on the last valid token), the powers of gamma counting valid tokens only: a masked
    span inside a response (a multi-turn observation) is carried across, as verl does; then
    ``A = masked_whiten(G, mask) * mask`` with mean and unbiased variance over the valid tokens of
    each run (see :func:`masked_whiten_per_run` for runs with fewer than 2 valid tokens).

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` [B, T], ``run`` [B]; no ``weights``.
    config : AdvantageConfig
        ``gamma``.

    Returns
    -------
    FloatTensor [B, T]
    """
    _require_sampled(rollout, config)
    returns = _discounted_returns(rollout.token_rewards(), rollout.mask, config.gamma)
    whitened = masked_whiten_per_run(returns, rollout.mask, rollout.run_ids(), rollout.num_runs)
    return whitened * rollout.mask


@ADV_ESTIMATORS.register("reinforce_plus_plus_baseline")
def reinforce_plus_plus_baseline(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """REINFORCE++-baseline (verl ``reinforce_plus_plus_baseline``): group-centred, then whitened.

    ``a[b] = s[b] - mu_g`` (``mu = 0`` for a group of one row), broadcast over the valid tokens,
    then ``masked_whiten`` over the valid tokens of each run and ``* mask``.

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` [B, T], ``group`` [B], ``run`` [B]; no ``weights``.
    config : AdvantageConfig
        Only ``adv_estimator`` is read.

    Returns
    -------
    FloatTensor [B, T]
    """
    centred, _ = _group_centred(rollout, config)
    tokens = _per_token(centred, rollout)
    whitened = masked_whiten_per_run(tokens, rollout.mask, rollout.run_ids(), rollout.num_runs)
    return whitened * rollout.mask


@ADV_ESTIMATORS.register("gpg")
def gpg(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """GPG advantage (verl ``gpg``; arXiv 2504.02546), to pair with ``policy_loss="gpg"``.

    ``a[b] = alpha_r * (s[b] - mu_g)`` (``mu = 0`` for a group of one row, ``f_norm = 1``) with
    ``alpha_r = B_r / max(m_r, 1)``, ``B_r`` the rows of run r and ``m_r`` its rows with a non-zero
    reward: the fraction of informative samples rescales the gradient.

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` [B, T], ``group`` [B], ``run`` [B]; no ``weights``.
    config : AdvantageConfig
        Only ``adv_estimator`` is read.

    Returns
    -------
    FloatTensor [B, T]
    """
    centred, _ = _group_centred(rollout, config)
    scores, run = _scores(rollout), rollout.run_ids()
    rows = sum_per_run(torch.ones_like(scores), run, rollout.num_runs)  # [R]
    nonzero = sum_per_run((scores != 0).to(scores.dtype), run, rollout.num_runs)  # [R]
    alpha = rows / nonzero.clamp(min=1)
    return _per_token(gather_runs(alpha, run) * centred, rollout)


@ADV_ESTIMATORS.register("reinforce_pm1")
def reinforce_pm1(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """The +1 / -1 REINFORCE signal of Zhu et al. (arXiv 2506.01347) for binary rewards, no baseline.

    ``a[b] = +1`` if ``s[b] > 0`` (a correct response) else ``-1``. With the ``sample_weight``
    modifier this gives PSR-only (``neg_weight=0``), NSR-only (``pos_weight=0``) and W-REINFORCE
    (``pos_weight=0.1``). Unlike GRPO, an all-correct group still pushes its responses up and an
    all-wrong group still pushes them down. Weighted rollouts are supported (no group statistics).

    Returns
    -------
    FloatTensor [B, T]
    """
    scores = _scores(rollout)
    return _per_token(torch.where(scores > 0, torch.ones_like(scores), -torch.ones_like(scores)), rollout)
