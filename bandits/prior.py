"""The initial policy: a prior with a stated mean entropy and accuracy, solved numerically.

The prior logits of prompt p, position t, arm a are

    z[p, t, a] = scale * noise[p, t, a] + (offset - spread * difficulty[p]) * correct[p, t, a]

``noise`` gives the arms unequal prior probabilities (so correct arms differ in how likely they
are, as in a pre-trained model), ``offset`` moves mass onto the correct arms, ``spread`` makes
some prompts harder than others. For a given ``scale`` the accuracy is strictly increasing in
``offset``, so an inner bisection meets ``init_accuracy``; an outer bisection on ``scale`` then
meets ``init_entropy`` (the entropy falls from its largest reachable value at ``scale = 0``
towards its smallest as ``scale`` grows). Both targets are met to ``calibration_tol`` or the
construction raises ``ValueError`` naming the unreachable field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from entropic.sims.config import BanditConfig
from entropic.sims.task import BanditTask

_MAX_SCALE = 1e3
_MAX_OFFSET = 1e4
_ITERATIONS = 200


@dataclass(frozen=True)
class Prior:
    """A calibrated initial policy.

    Attributes
    ----------
    logits : DoubleTensor [P, T, K]
        Initial logits.
    scale, offset : float
        The solved noise scale and correct-arm offset (nats).
    entropy, accuracy : float
        Mean token entropy (nats) and mean probability of a correct response that ``logits`` give.
    """

    logits: torch.Tensor
    scale: float
    offset: float
    entropy: float
    accuracy: float


def policy_summary(logits: torch.Tensor, correct: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token entropy and mean probability of a correct response.

    Parameters
    ----------
    logits : FloatTensor [..., P, T, K]
        Logits of one or several policies.
    correct : BoolTensor [P, T, K]
        Correct arms.

    Returns
    -------
    entropy : FloatTensor [...]
        Mean over prompts and positions of the token entropy (nats).
    accuracy : FloatTensor [...]
        Mean over prompts of ``prod_t sum_{a correct} pi(a | p, t)``.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    probs = torch.softmax(logits, dim=-1)
    entropy = -(probs * log_probs).sum(-1)  # [..., P, T]
    correct_mass = (probs * correct.to(probs.dtype)).sum(-1)  # [..., P, T]
    return entropy.mean((-2, -1)), correct_mass.prod(-1).mean(-1)


def _bisect(fn, target: float, low: float, high: float, increasing: bool, tol: float) -> float:
    """A root of ``fn(x) = target`` in ``[low, high]`` (``fn`` continuous, bracketing the target)."""
    sign = 1.0 if increasing else -1.0
    for _ in range(_ITERATIONS):
        mid = 0.5 * (low + high)
        value = fn(mid)
        if abs(value - target) <= tol or high - low <= 1e-14 * max(1.0, abs(mid)):
            return mid
        if sign * (value - target) < 0:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def calibrate(task: BanditTask, init_entropy: float, init_accuracy: float, difficulty_spread: float,
              tol: float) -> Prior:
    """Solve for the prior whose mean entropy and accuracy are the targets (see the module docstring).

    Raises
    ------
    ValueError
        When ``init_entropy`` lies outside the range this prior family reaches at ``init_accuracy``,
        or the targets are not met to ``tol``.
    """
    correct = task.correct.to(torch.float64)
    shift = difficulty_spread * task.difficulty.view(-1, 1, 1)  # [P, 1, 1]

    def logits(scale: float, offset: float) -> torch.Tensor:
        return scale * task.prior_noise + (offset - shift) * correct

    def offset_for(scale: float) -> float:
        low, high = -1.0, 1.0
        while policy_summary(logits(scale, low), task.correct)[1] > init_accuracy and low > -_MAX_OFFSET:
            low *= 2.0
        while policy_summary(logits(scale, high), task.correct)[1] < init_accuracy and high < _MAX_OFFSET:
            high *= 2.0
        return _bisect(lambda c: float(policy_summary(logits(scale, c), task.correct)[1]), init_accuracy,
                       low, high, increasing=True, tol=tol * 1e-3)

    def entropy_at(scale: float) -> float:
        return float(policy_summary(logits(scale, offset_for(scale)), task.correct)[0])

    largest = entropy_at(0.0)
    if init_entropy > largest - tol:
        raise ValueError(f"BanditConfig.init_entropy must be below {largest:.4f} nats, the largest entropy this "
                         f"prior reaches at init_accuracy={init_accuracy} (num_arms, num_correct and "
                         f"difficulty_spread set it), got {init_entropy}")
    high = 1.0
    while entropy_at(high) > init_entropy and high < _MAX_SCALE:
        high *= 2.0
    if entropy_at(high) > init_entropy:
        raise ValueError(f"BanditConfig.init_entropy={init_entropy} is below the smallest entropy this prior "
                         f"reaches at init_accuracy={init_accuracy} ({entropy_at(high):.4f} nats)")
    scale = _bisect(entropy_at, init_entropy, 0.0, high, increasing=False, tol=tol * 1e-1)
    offset = offset_for(scale)
    z = logits(scale, offset)
    entropy, accuracy = (float(x) for x in policy_summary(z, task.correct))
    if abs(entropy - init_entropy) > tol or abs(accuracy - init_accuracy) > tol:
        raise ValueError(f"BanditConfig.init_entropy / init_accuracy: calibration reached entropy {entropy:.6f} "
                         f"and accuracy {accuracy:.6f}, not within calibration_tol={tol} of "
                         f"{init_entropy} and {init_accuracy}")
    return Prior(z, scale, offset, entropy, accuracy)


def initial_prior(config: BanditConfig) -> Prior:
    """The calibrated prior of ``config`` (memoised on the fields it depends on; do not modify it)."""
    return _cached_prior(config.task_seed, config.num_prompts, config.seq_len, config.num_arms, config.num_correct,
                         config.difficulty_spread, config.init_entropy, config.init_accuracy,
                         config.calibration_tol)


@lru_cache(maxsize=32)
def _cached_prior(task_seed: int, num_prompts: int, seq_len: int, num_arms: int, num_correct: int,
                  difficulty_spread: float, init_entropy: float, init_accuracy: float, tol: float) -> Prior:
    config = BanditConfig(task_seed=task_seed, num_prompts=num_prompts, seq_len=seq_len, num_arms=num_arms,
                          num_correct=num_correct, difficulty_spread=difficulty_spread, init_entropy=init_entropy,
                          init_accuracy=init_accuracy, calibration_tol=tol)
    return calibrate(BanditTask.from_config(config), init_entropy, init_accuracy, difficulty_spread, tol)
