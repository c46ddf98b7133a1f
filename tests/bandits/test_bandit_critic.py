"""The bandit's critic (VAPO's value model): what it learns, how it resumes, what it refuses."""

from __future__ import annotations

import io

import pytest
import torch

from entropic.advantages import AdvantageConfig, critic_returns
from entropic.sims import BanditConfig, SoftmaxBanditBackend

MONTE_CARLO = AdvantageConfig(adv_estimator="gae", lam_critic=1.0)


def critic_steps(backend: SoftmaxBanditBackend, steps: int) -> list[dict[str, torch.Tensor]]:
    """``steps`` critic-only steps on fresh rollouts of the (fixed) policy."""
    metrics = []
    for _ in range(steps):
        rollout = backend.rollout()
        metrics.append(backend.update_critic(rollout, critic_returns(rollout, MONTE_CARLO)))
    return metrics


def test_the_critic_learns_each_prompts_expected_reward() -> None:
    # SGD on 0.5 * mean (V_p - r)^2 over P * G rows moves V_p by (critic_lr / P) (mean_g r - V_p): with
    # critic_lr = 0.2 P the table is an average of recent batch means, whose limit is the prompt's
    # expected reward under the fixed policy, sum of pi over its correct arms (no reward noise); the
    # stationary noise is about sqrt(0.2 / 1.8 * p (1 - p) / G) < 0.02 at G = 64.
    config = BanditConfig(num_prompts=4, num_arms=8, num_correct=2, group_size=64, init_entropy=1.5,
                          init_accuracy=0.4, critic=True, critic_lr=0.8, cliprange_value=10.0)
    backend = SoftmaxBanditBackend(config, num_runs=2, seeds=[3, 4])
    critic_steps(backend, 150)
    with torch.no_grad():
        probs = torch.softmax(backend.policy.logits(), dim=-1)  # [R, P, 1, K]
        expected = (probs * backend.task.correct.to(probs.dtype)).sum(-1)  # [R, P, 1]
    torch.testing.assert_close(backend.critic.table, expected, rtol=0, atol=0.06)
    assert expected.std() > 0.05  # the prompts differ: a single constant could not pass


def test_values_come_through_the_rollout_without_grad() -> None:
    config = BanditConfig(num_prompts=3, num_arms=8, num_correct=2, group_size=4, seq_len=2, init_entropy=1.5,
                          critic=True)
    backend = SoftmaxBanditBackend(config, num_runs=2)
    with torch.no_grad():
        backend.critic.table.copy_(torch.arange(12, dtype=torch.float32).view(2, 3, 2))
    rollout = backend.rollout()
    assert rollout.values.shape == (24, 2) and not rollout.values.requires_grad
    expected = backend.critic.table.detach()[rollout.run, rollout.prompts]  # [B, T]
    assert torch.equal(rollout.values, expected)
    assert SoftmaxBanditBackend(BanditConfig(num_prompts=3)).rollout().values is None


def test_state_dict_holds_the_critic_and_resumes_bit_identically() -> None:
    config = BanditConfig(num_prompts=4, num_arms=8, num_correct=2, group_size=8, init_entropy=1.5,
                          optimizer="adam", lr=0.1, critic=True)
    backend = SoftmaxBanditBackend(config, num_runs=2)
    critic_steps(backend, 3)
    buffer = io.BytesIO()
    torch.save(backend.state_dict(), buffer)
    continued = critic_steps(backend, 3)
    restored = SoftmaxBanditBackend(config, num_runs=2)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for mine, theirs in zip(critic_steps(restored, 3), continued, strict=True):
        assert all(torch.equal(mine[name], theirs[name]) for name in theirs)
    assert torch.equal(restored.critic.table, backend.critic.table)
    without = SoftmaxBanditBackend(BanditConfig(num_prompts=4, num_arms=8, num_correct=2, group_size=8,
                                                init_entropy=1.5), num_runs=2)
    with pytest.raises(ValueError, match="disagree on the critic"):
        without.load_state_dict(backend.state_dict())
    with pytest.raises(ValueError, match="backend.critic=false"):
        without.update_critic(without.rollout(), torch.zeros(64, 1))


@pytest.mark.parametrize("fields,message", [
    (dict(critic_lr=0.0), r"BanditConfig\.critic_lr must be > 0 or null"),
    (dict(cliprange_value=0.0), r"BanditConfig\.cliprange_value must be > 0"),
    (dict(critic=True, mode="exact"), r"BanditConfig\.critic must be false in exact mode"),
])
def test_invalid_critic_fields_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BanditConfig(**fields)
