"""The whole-loss hook equals verl's ``ppo_loss`` (policy loss + entropy bonus + KL loss) on the same micro-batch.

The micro-batch is laid out as verl's engine hands it to a loss function: the model's log-probs and
entropies unpadded over prompt and response tokens, the padded batch fields, and the global-batch numbers
the engine assigns. The reference is ``verl.workers.utils.losses.ppo_loss`` with the same actor config.
"""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.workers.config import ActorConfig
from verl.workers.utils.losses import ppo_loss
from verl.workers.utils.padding import no_padding_2_padding

from entropic.llm.verl.knobs import KNOBS_KEY, control_from_actor
from entropic.llm.verl.loss_hook import EntropicLoss
from entropic.objectives import AGG_MODES, ObjectiveConfig

B, P, T = 12, 5, 10
SCOPES = {"one_process": None, "data_parallel": {"dp_size": 2, "batch_num_tokens": 260, "global_batch_size": 2 * B}}


def _micro_batch(seed: int, scope: str) -> tuple[dict[str, torch.Tensor], TensorDict]:
    g = torch.Generator().manual_seed(seed)
    prompt_lengths = torch.randint(1, P + 1, (B,), generator=g)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = 0  # an empty response
    attention = torch.cat([torch.arange(P - 1, -1, -1)[None, :] < prompt_lengths[:, None],   # left-padded prompt
                           torch.arange(T)[None, :] < lengths[:, None]], dim=1).long()
    total = int(attention.sum())
    model_output = {"log_probs": (-3 * torch.rand(total, generator=g)).requires_grad_(),
                    "entropy": (2 * torch.rand(total, generator=g)).requires_grad_()}
    response_mask = attention[:, P:]
    data = TensorDict({"prompts": torch.ones(B, P, dtype=torch.long), "responses": torch.ones(B, T, dtype=torch.long),
                       "attention_mask": attention, "response_mask": response_mask}, batch_size=[B])
    logp = no_padding_2_padding(model_output["log_probs"], data).detach()
    data["old_log_probs"] = logp + 0.5 * torch.randn(B, T, generator=g)
    data["ref_log_prob"] = logp + 0.3 * torch.randn(B, T, generator=g)
    data["advantages"] = (2 * torch.randn(B, 1, generator=g)).expand(B, T) * response_mask
    info = SCOPES[scope] or {"dp_size": 1, "batch_num_tokens": int(response_mask.sum()), "global_batch_size": B}
    tu.assign_non_tensor(data, **info)
    return model_output, data


def _actor(mode: str, **settings: float) -> ActorConfig:
    settings = {"clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "entropy_coeff": 0.01, "kl_loss_coef": 0.05,
                **settings}
    return ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, loss_agg_mode=mode,
                       use_kl_loss=True, kl_loss_type="low_var_kl", calculate_entropy=True, **settings)


def _hook(actor: ActorConfig) -> EntropicLoss:
    objective = ObjectiveConfig(policy_loss="vanilla", loss_agg_mode=actor.loss_agg_mode,
                                loss_scale_factor=actor.loss_scale_factor, terms=["entropy", "kl"],
                                kl_loss_type=actor.kl_loss_type)
    return EntropicLoss(objective=objective, control=control_from_actor(actor))


def _value_and_grads(loss_fn, model_output, data):
    loss, metrics = loss_fn(model_output=model_output, data=data, dp_group=None)
    grads = torch.autograd.grad(loss, [model_output["log_probs"], model_output["entropy"]])
    return loss.detach(), grads, metrics


def _assert_equal(ours, theirs) -> None:
    torch.testing.assert_close(ours[0], theirs[0], rtol=2e-5, atol=1e-6)
    for mine, verls in zip(ours[1], theirs[1], strict=True):
        assert verls.abs().sum() > 0
        torch.testing.assert_close(mine, verls, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize("mode", AGG_MODES)
def test_the_hook_is_ppo_loss_with_entropy_and_kl_terms(mode: str, scope: str) -> None:
    model_output, data = _micro_batch(0, scope)
    actor = _actor(mode)
    theirs = _value_and_grads(lambda **kw: ppo_loss(config=actor, **kw), model_output, data)
    ours = _value_and_grads(_hook(actor), model_output, data)
    _assert_equal(ours, theirs)
    assert ours[2]["actor/pg_loss"].aggregate() == pytest.approx(float(theirs[2]["actor/pg_loss"].aggregate()),
                                                                   rel=1e-4, abs=1e-6)
    assert ours[2]["actor/pg_loss"].aggregation == theirs[2]["actor/pg_loss"].aggregation


def test_the_step_knobs_in_the_batch_override_the_configured_ones() -> None:
    """A controller's values (in the batch's extra info) act as if verl's actor fields held them."""
    model_output, data = _micro_batch(1, "data_parallel")
    knobs = {"entropy_coeff": 0.3, "clip_ratio_high": 0.35, "kl_loss_coef": 0.2}
    tu.assign_non_tensor_data(data, KNOBS_KEY, knobs)
    moved = _actor("token-mean", **knobs)
    theirs = _value_and_grads(lambda **kw: ppo_loss(config=moved, **kw), model_output, data)
    ours = _value_and_grads(_hook(_actor("token-mean")), model_output, data)
    _assert_equal(ours, theirs)
    for chunk in tu.chunk_tensordict(data, 3):  # micro-batches (and ranks) all carry the same knobs
        assert tu.get_non_tensor_data(chunk, KNOBS_KEY, None) == knobs


def test_a_missing_entropy_names_verls_setting() -> None:
    model_output, data = _micro_batch(2, "one_process")
    with pytest.raises(ValueError, match=r"actor_rollout_ref.actor.calculate_entropy=True"):
        _hook(_actor("token-mean"))(model_output={"log_probs": model_output["log_probs"]}, data=data)
