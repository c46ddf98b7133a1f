"""Extra loss terms: entropy bonus, KL loss, unbiased KL, EntroPIC high-probability term."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_of, entropy_from_logits, random_batch, ref_agg, ref_k3

from entropic.control import Control
from entropic.objectives import AGG_MODES, TERMS, Objective, ObjectiveConfig, PolicyBatch, agg_loss, kl_penalty

ENTROPIC = TERMS.get("entropic").fn


def _term(name: str, batch: PolicyBatch, control: Control, cfg: ObjectiveConfig | None = None,
          keep: torch.Tensor | None = None) -> torch.Tensor:
    cfg = cfg or ObjectiveConfig(terms=[name])

    def aggregate(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return agg_loss(loss, mask, cfg.loss_agg_mode, batch.run, batch.num_runs, cfg.loss_scale_factor)

    keep = torch.ones_like(batch.mask) if keep is None else keep
    return TERMS.get(name).fn(batch, control, aggregate, keep, cfg)[0]


def _logits_batch(logits: torch.Tensor, tokens: torch.Tensor, adv: torch.Tensor,
                  mask: torch.Tensor) -> PolicyBatch:
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return batch_of(logp, logp.detach(), adv, mask, entropy=entropy_from_logits(logits))


def test_entropy_bonus_uniform_logits_is_log_v() -> None:
    V = 7
    logits = torch.zeros(2, 3, V, dtype=torch.float64)
    batch = _logits_batch(logits, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.float64),
                          torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64))
    for c in (0.0, 0.01, -0.5):
        torch.testing.assert_close(_term("entropy", batch, Control(entropy_coeff=c)),
                                   torch.tensor([-c * math.log(V)], dtype=torch.float64))


@pytest.mark.parametrize(("mode", "seed"), list(zip(AGG_MODES, range(len(AGG_MODES)), strict=True)))
def test_entropy_bonus_gradcheck_through_softmax(mode: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    B, T, V = 2, 3, 4
    logits = torch.randn(B, T, V, generator=g, dtype=torch.float64).requires_grad_()
    tokens = torch.randint(0, V, (B, T), generator=g)
    adv = torch.randn(B, 1, generator=g, dtype=torch.float64).expand(B, T).contiguous()
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    objective = Objective(ObjectiveConfig(policy_loss="gpg", loss_agg_mode=mode, terms=["entropy"]))
    control = Control(entropy_coeff=0.3)

    def fn(z: torch.Tensor) -> torch.Tensor:
        return objective(_logits_batch(z, tokens, adv * mask, mask), control)[0]

    assert torch.autograd.gradcheck(fn, (logits,))
    value = fn(logits)
    entropy = entropy_from_logits(logits)
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    expected = ref_agg(-adv * mask * logp, mask, mode) - 0.3 * ref_agg(entropy, mask, mode)
    torch.testing.assert_close(value, expected.reshape(1))


def test_entropy_bonus_follows_the_token_selection() -> None:
    entropy = torch.tensor([[0.1, 0.2, 0.9, 0.8]], dtype=torch.float64)
    batch = batch_of(torch.zeros(1, 4, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64),
                     torch.zeros(1, 4, dtype=torch.float64), entropy=entropy)
    cfg = ObjectiveConfig(modifiers=["top_entropy"], terms=["entropy"])
    loss, metrics = Objective(cfg)(batch, Control(top_entropy_quantile=0.5, entropy_coeff=1.0))
    # keeps tokens 2, 3 (threshold 0.5 * (0.2 + 0.8)); bonus = mean over kept tokens
    torch.testing.assert_close(loss, torch.tensor([-0.85], dtype=torch.float64))
    torch.testing.assert_close(metrics["actor/entropy"], torch.tensor([0.5], dtype=torch.float64))


@pytest.mark.parametrize("kl_type", ["k1", "abs", "k2", "low_var_kl", "k3+", "k1+"])
@pytest.mark.parametrize("mode", AGG_MODES)
def test_kl_term_value(kl_type: str, mode: str) -> None:
    batch = random_batch(4, 5, 2, empty_row=True)
    cfg = ObjectiveConfig(loss_agg_mode=mode, terms=["kl"], kl_loss_type=kl_type)
    value = _term("kl", batch, Control(kl_loss_coef=0.25), cfg)
    expected = 0.25 * ref_agg(kl_penalty(batch.log_probs, batch.ref_log_probs, kl_type), batch.mask, mode)
    torch.testing.assert_close(value, expected.reshape(1))


@pytest.mark.parametrize("seed", [0, 1])
def test_unbiased_kl_value_and_gradcheck(seed: int) -> None:
    batch = random_batch(3, 4, seed, empty_row=True)
    value = _term("unbiased_kl", batch, Control(kl_loss_coef=0.5))
    ratio = torch.exp(batch.log_probs - batch.old_log_probs)
    expected = 0.5 * ref_agg(ref_k3(batch.log_probs, batch.ref_log_probs) * ratio, batch.mask, "token-mean")
    torch.testing.assert_close(value, expected.reshape(1))

    def fn(lp: torch.Tensor) -> torch.Tensor:
        b = batch_of(lp, batch.old_log_probs, batch.advantages, batch.mask, ref_log_probs=batch.ref_log_probs)
        return _term("unbiased_kl", b, Control(kl_loss_coef=0.5))

    assert torch.autograd.gradcheck(fn, (batch.log_probs.detach().clone().requires_grad_(),))


def test_unbiased_kl_on_policy_equals_k3_loss() -> None:
    batch = random_batch(4, 4, 3)
    on_policy = batch_of(batch.log_probs, batch.log_probs.detach(), batch.advantages, batch.mask,
                         ref_log_probs=batch.ref_log_probs)
    torch.testing.assert_close(_term("unbiased_kl", on_policy, Control()),
                               _term("kl", on_policy, Control(), ObjectiveConfig(kl_loss_type="k3")))


@pytest.mark.parametrize("name", ["kl", "unbiased_kl"])
def test_kl_terms_need_reference_log_probs(name: str) -> None:
    batch = batch_of(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="ref_log_probs") as info:
        Objective(ObjectiveConfig(terms=[name]))(batch, Control())
    assert name in str(info.value)


def test_entropy_term_needs_entropy() -> None:
    batch = batch_of(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="PolicyBatch.entropy"):
        Objective(ObjectiveConfig(terms=["entropy"]))(batch, Control(entropy_coeff=0.1))


def test_entropic_term_hand_worked() -> None:
    # pi = [0.99, 0.5, 0.97, 0.96]: tokens 0, 2, 3 are above p_hi = 0.95; ratio = e^[0, 0, 0.1, -0.1]
    logp = torch.log(torch.tensor([[0.99, 0.5, 0.97, 0.96]], dtype=torch.float64))
    old = logp - torch.tensor([[0.0, 0.0, 0.1, -0.1]], dtype=torch.float64)
    adv = torch.tensor([[2.0, 5.0, -1.0, 0.5]], dtype=torch.float64)
    value = _term("entropic", batch_of(logp, old, adv), Control(entropic_alpha=0.4))
    expected = 0.4 * -(2.0 + math.exp(0.1) * 1.0 + math.exp(-0.1) * 0.5) / 3
    torch.testing.assert_close(value, torch.tensor([expected], dtype=torch.float64))


@pytest.mark.parametrize("alpha", [0.3, -0.5, 1.0])
def test_entropic_effective_weight_is_one_plus_alpha(alpha: float) -> None:
    # every valid token is high-probability and on-policy: the gradient on A > 0 tokens is scaled
    # by (1 + alpha), on A < 0 tokens by (1 - alpha), relative to the plain PPO gradient -A / N
    g = torch.Generator().manual_seed(0)
    logp = (-0.03 * torch.rand(3, 4, generator=g, dtype=torch.float64)).requires_grad_()
    adv = torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64).expand(3, 4)
    batch = batch_of(logp, logp.detach(), adv)
    loss, metrics = Objective(ObjectiveConfig(terms=["entropic"]))(batch, Control(entropic_alpha=alpha))
    torch.testing.assert_close(metrics["actor/high_prob_frac"], torch.ones(1, dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    scale = torch.where(adv > 0, 1 + alpha, 1 - alpha)
    torch.testing.assert_close(grad, scale * -adv / 12)


def test_entropic_weight_relative_to_high_prob_share() -> None:
    # 2 of 4 tokens high-prob: their extra gradient is -alpha * |A| / N_hi, others unchanged
    logp = torch.log(torch.tensor([[0.99, 0.2, 0.98, 0.3]], dtype=torch.float64)).requires_grad_()
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    loss, _ = Objective(ObjectiveConfig(terms=["entropic"]))(batch_of(logp, logp.detach(), adv),
                                                             Control(entropic_alpha=0.5))
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    expected = torch.tensor([[-1 / 4 - 0.5 / 2, -1 / 4, 1 / 4 - 0.5 / 2, 1 / 4]], dtype=torch.float64)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_entropic_empty_high_prob_set_gives_zero(mode: str) -> None:
    logp = torch.log(torch.tensor([[0.5, 0.9], [0.2, 0.94]], dtype=torch.float64)).requires_grad_()
    batch = batch_of(logp, logp.detach() - 0.1, torch.tensor([[1.0, -1.0], [2.0, 0.5]], dtype=torch.float64))
    cfg = ObjectiveConfig(loss_agg_mode=mode, terms=["entropic"])
    value = _term("entropic", batch, Control(entropic_alpha=0.7), cfg)
    assert torch.equal(value, torch.zeros(1, dtype=torch.float64))
    (grad,) = torch.autograd.grad(value.sum(), logp)
    assert torch.equal(grad, torch.zeros_like(grad))


def test_entropic_gradcheck() -> None:
    g = torch.Generator().manual_seed(1)
    logp = torch.log(torch.tensor([[0.99, 0.5, 0.97], [0.2, 0.985, 0.6]], dtype=torch.float64))
    old = logp + 0.2 * torch.randn(2, 3, generator=g, dtype=torch.float64)
    adv = torch.randn(2, 3, generator=g, dtype=torch.float64)

    def fn(lp: torch.Tensor) -> torch.Tensor:
        return _term("entropic", batch_of(lp, old, adv), Control(entropic_alpha=-0.6, high_prob_thresh=0.9))

    assert torch.autograd.gradcheck(fn, (logp.requires_grad_(),))
