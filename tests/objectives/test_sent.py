"""SENT's token term: a hand-worked batch, a naive single-run reference, finite differences, runs apart."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from objectives_ref import batch_of, random_batch

from entropic.control import Control
from entropic.objectives import TERMS, Objective, ObjectiveConfig, PolicyBatch, agg_loss

F64 = torch.float64


def _term(batch: PolicyBatch, control: Control, cfg: ObjectiveConfig | None = None) -> tuple[torch.Tensor, dict]:
    cfg = cfg or ObjectiveConfig(terms=["sent_kl"])

    def aggregate(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return agg_loss(loss, mask, cfg.loss_agg_mode, batch.run, batch.num_runs, cfg.loss_scale_factor)

    return TERMS.get("sent_kl").fn(batch, control, aggregate, torch.ones_like(batch.mask), cfg)


def _hand_batch() -> PolicyBatch:
    logp = torch.tensor([[-0.1, -0.2, -0.3, -1.0, -2.0]], dtype=F64, requires_grad=True)
    delta = torch.tensor([[0.1, -0.2, 0.3, 0.4, -0.05]], dtype=F64)  # logp - old_logp
    return batch_of(logp, logp.detach() - delta, torch.tensor([[1.0, -1.0, 2.0, 0.0, 0.5]], dtype=F64),
                    entropy=torch.tensor([[0.1, 0.5, 0.2, 0.9, 0.3]], dtype=F64))


def test_hand_worked_value_and_gradient() -> None:
    # low entropy (share 0.8): int(5 * 0.8) = 4 tokens {0, 1, 2, 4}; token 3 (H = 0.9) is free.
    # over them mean A = 0.625, mean logp = -0.65; covariances 0.20625, -0.73125, 0.48125, 0.16875:
    # kl_cov_ratio 0.25 -> int(4 * 0.25) = 1 token of largest covariance, token 2, weighs 2.
    # token-mean: 0.5 * (0.1 + 0.2 + 2 * 0.3 + 0.05) / 5 = 0.095; d/dlogp = 0.5 * w * sign(delta) / 5.
    batch = _hand_batch()
    loss, metrics = _term(batch, Control(ppo_kl_coef=0.5, kl_cov_ratio=0.25))
    torch.testing.assert_close(loss, torch.tensor([0.095], dtype=F64))
    loss.sum().backward()
    torch.testing.assert_close(batch.log_probs.grad, torch.tensor([[0.1, -0.1, 0.2, 0.0, -0.1]], dtype=F64))
    torch.testing.assert_close(metrics["actor/sent_low_entropy_frac"], torch.tensor([0.8], dtype=F64))
    torch.testing.assert_close(metrics["actor/sent_high_cov_frac"], torch.tensor([0.2], dtype=F64))


def _literal(logp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor, entropy: torch.Tensor, mask: torch.Tensor,
             share: float, ratio: float, multiplier: float, coef: float) -> torch.Tensor:
    """The formula of the module docstring for one run, token by token (token-mean)."""
    valid = [(b, t) for b in range(mask.shape[0]) for t in range(mask.shape[1]) if mask[b, t] > 0]
    low = sorted(valid, key=lambda bt: float(entropy[bt]))[:max(1, int(len(valid) * share))]
    mean_adv = sum(float(adv[bt]) for bt in low) / len(low)
    mean_logp = sum(float(logp[bt].detach()) for bt in low) / len(low)
    cov = {bt: (float(adv[bt]) - mean_adv) * (float(logp[bt].detach()) - mean_logp) for bt in low}
    high = set(sorted(low, key=lambda bt: -cov[bt])[:max(1, int(len(low) * ratio))])
    total = sum((multiplier if bt in high else 1.0) * (logp[bt] - old[bt]).abs() for bt in low)
    return coef * total / len(valid)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_the_literal_formula_and_its_gradient(seed: int) -> None:
    batch = random_batch(6, 5, seed, token_adv=True)
    g = torch.Generator().manual_seed(100 + seed)
    batch = replace(batch, entropy=torch.rand(6, 5, generator=g, dtype=F64))
    cfg = ObjectiveConfig(terms=["sent_kl"], sent_low_entropy_share=0.7, sent_high_cov_multiplier=3.0)
    control = Control(ppo_kl_coef=0.4, kl_cov_ratio=0.3)
    loss, _ = _term(batch, control, cfg)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)
    logp = batch.log_probs.detach().clone().requires_grad_()
    expected = _literal(logp, batch.old_log_probs, batch.advantages, batch.entropy, batch.mask, 0.7, 0.3, 3.0, 0.4)
    torch.testing.assert_close(loss, expected.detach().reshape(1), rtol=1e-6, atol=1e-12)
    (expected_grad,) = torch.autograd.grad(expected, logp)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-12)


def test_gradient_matches_finite_differences() -> None:
    # a small step of one log-prob moves no token across the selection thresholds nor |d| across 0
    batch = random_batch(4, 6, 7, token_adv=True)
    g = torch.Generator().manual_seed(7)
    batch = replace(batch, entropy=torch.rand(4, 6, generator=g, dtype=F64))
    control = Control(ppo_kl_coef=0.7, kl_cov_ratio=0.2)
    loss, _ = _term(batch, control)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)
    eps = 1e-7
    for b, t in [(0, 0), (1, 2), (2, 1), (3, 0)]:
        if batch.mask[b, t] == 0:
            continue
        values = []
        for sign in (1.0, -1.0):
            logp = batch.log_probs.detach().clone()
            logp[b, t] += sign * eps
            shifted = replace(batch, log_probs=logp)
            values.append(float(_term(shifted, control)[0].sum()))
        assert abs((values[0] - values[1]) / (2 * eps) - float(grad[b, t])) < 1e-6


def test_no_gradient_on_policy() -> None:
    # |log ratio| has gradient 0 at ratio 1: the term acts only from a rollout's second update on
    batch = random_batch(3, 4, 1, token_adv=True, spread=0.0)
    batch = replace(batch, entropy=torch.rand(3, 4, dtype=F64, generator=torch.Generator().manual_seed(1)))
    loss, _ = _term(batch, Control(ppo_kl_coef=1.0))
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)
    assert loss.item() == 0.0 and not grad.any()


def test_runs_apart_equal_runs_together() -> None:
    parts = []
    for seed in (3, 4):
        batch = random_batch(4, 5, seed, token_adv=True)
        entropy = torch.rand(4, 5, dtype=F64, generator=torch.Generator().manual_seed(seed))
        parts.append(replace(batch, entropy=entropy))
    control = Control(ppo_kl_coef=torch.tensor([0.3, 0.9], dtype=F64), kl_cov_ratio=torch.tensor([0.1, 0.5]))
    joint = PolicyBatch(log_probs=torch.cat([p.log_probs.detach() for p in parts]),
                        old_log_probs=torch.cat([p.old_log_probs for p in parts]),
                        advantages=torch.cat([p.advantages for p in parts]), mask=torch.cat([p.mask for p in parts]),
                        run=torch.arange(2).repeat_interleave(4), num_runs=2,
                        entropy=torch.cat([p.entropy for p in parts]))
    together, _ = _term(joint, control)
    for r, part in enumerate(parts):
        alone, _ = _term(part, Control(ppo_kl_coef=float(control.ppo_kl_coef[r]),
                                       kl_cov_ratio=float(control.kl_cov_ratio[r])))
        assert torch.equal(alone, together[r:r + 1])


def test_objective_reads_entropy_and_flags_the_ratio_knob() -> None:
    objective = Objective(ObjectiveConfig(terms=["sent_kl"]))
    assert objective.needs_entropy
    assert {"ppo_kl_coef", "kl_cov_ratio"} <= objective.reads and "ppo_kl_coef" in objective.ratio_knobs


@pytest.mark.parametrize(("field", "value"), [("sent_low_entropy_share", 0.0), ("sent_low_entropy_share", 1.5),
                                              ("sent_high_cov_multiplier", 0.5),
                                              ("sent_high_cov_multiplier", float("nan"))])
def test_config_rejects_bad_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"objective.{field}"):
        ObjectiveConfig(**{field: value})
