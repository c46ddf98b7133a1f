"""The measurement noise of the entropy loop: how much the batch entropy moves at a fixed policy.

A controller on ``entropy/mean`` sees the mean token entropy of one sampled batch. Even when the policy
does not change, that reading varies from batch to batch (different prompts, different responses). Its
standard deviation is the noise floor no controller can go below: a loop that holds entropy has a mean
absolute deviation from its setpoint of about ``sqrt(2 / pi) ~ 0.8`` times it at best (Gaussian noise).
"""

from __future__ import annotations

import torch

from entropic.protocol import Backend
from entropic.reduce import masked_mean_per_run


def entropy_noise_floor(backend: Backend, rollouts: int = 50) -> torch.Tensor:
    """Standard deviation ``[R]`` of each run's batch mean token entropy over ``rollouts`` rollouts, no update.

    The backend's policy is not changed (no ``backward``/``step``); its sampling streams advance.
    """
    return batch_entropies(backend, rollouts).std(dim=0)


def batch_entropies(backend: Backend, rollouts: int) -> torch.Tensor:
    """Each run's batch mean token entropy ``[rollouts, R]`` (as the loop observes it) over ``rollouts`` rollouts
    at the current policy (no update; the sampling streams advance)."""
    if rollouts < 2:
        raise ValueError(f"rollouts must be >= 2 to estimate a standard deviation, got {rollouts}")
    readings = []
    with torch.no_grad():
        for _ in range(rollouts):
            rollout = backend.rollout()
            entropy = backend.score(rollout, entropy="detached").entropy
            measure = rollout.mask if rollout.weights is None else rollout.mask * rollout.weights.unsqueeze(-1)
            readings.append(masked_mean_per_run(entropy, measure, rollout.run_ids(), rollout.num_runs))  # as observe
    return torch.stack(readings)
