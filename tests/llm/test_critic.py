"""The LLM backend's critic (VAPO's value model): a linear head on the policy's detached features."""

from __future__ import annotations

import pytest
import torch

from entropic.advantages import AdvantageConfig, critic_returns
from entropic.llm import HFConfig
from entropic.llm.critic import FEATURES

MONTE_CARLO = AdvantageConfig(adv_estimator="gae", lam_critic=1.0)


def test_values_are_the_head_on_the_features_and_the_policy_is_left_alone(make_backend) -> None:
    backend = make_backend(critic=True, critic_lr=1e-2)
    rollout = backend.rollout()
    assert torch.equal(rollout.values, torch.zeros_like(rollout.mask))  # the head starts at 0
    features = rollout.extras[FEATURES]
    assert features.shape == (*rollout.mask.shape, backend.model.get_output_embeddings().weight.shape[1])
    before = [p.detach().clone() for p in backend.params]
    target = torch.full_like(rollout.mask, 0.7)
    losses = [float(backend.update_critic(rollout, target)["critic/value_loss"]) for _ in range(20)]
    assert losses[-1] < 0.5 * losses[0]  # the same batch, fitted
    assert all(torch.equal(p, q) for p, q in zip(before, backend.params, strict=True))
    with torch.no_grad():
        expected = features @ backend.critic.head.weight[0] + backend.critic.head.bias
    torch.testing.assert_close(backend.critic.values(features), expected)


def test_the_critic_resumes_from_a_state_dict(make_backend) -> None:
    backend = make_backend(critic=True, critic_lr=1e-2)
    rollout = backend.rollout()
    backend.update_critic(rollout, critic_returns(rollout, MONTE_CARLO))
    state = backend.state_dict()
    restarted = make_backend(critic=True, critic_lr=1e-2)
    restarted.load_state_dict(state)
    returns = critic_returns(rollout, MONTE_CARLO)
    assert torch.equal(backend.update_critic(rollout, returns)["critic/value_loss"],
                       restarted.update_critic(rollout, returns)["critic/value_loss"])
    with pytest.raises(ValueError, match="disagree on the critic"):
        make_backend().load_state_dict(state)


@pytest.mark.parametrize("fields,message", [(dict(critic_lr=0.0), "critic_lr"),
                                            (dict(cliprange_value=-1.0), "cliprange_value")])
def test_invalid_critic_fields_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HFConfig(**fields)
