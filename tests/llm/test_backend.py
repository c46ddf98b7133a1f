"""The LLM backend: rollouts verified and masked, the gradient of the objective, resets, evaluation, resume."""

from __future__ import annotations

import math

import pytest
import torch

from entropic.control import Control
from entropic.llm.tasks import make_task
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch


def test_rollout_groups_masks_and_rewards_follow_the_verifier(make_backend) -> None:
    backend = make_backend(max_new_tokens=4)
    rollout = backend.rollout()
    P, G, eos = 4, 4, backend.tokenizer.eos_token_id
    assert rollout.tokens.shape == (P * G, 4) and torch.equal(rollout.group, torch.arange(P).repeat_interleave(G))
    task = make_task("addition", {"num_digits": 1, "num_operands": 2})
    for row in range(P * G):
        tokens, length = rollout.tokens[row].tolist(), int(rollout.mask[row].sum())
        assert rollout.mask[row].tolist() == [1.0] * length + [0.0] * (4 - length)
        ended = eos in tokens
        assert not ended or tokens.index(eos) == length - 1  # the EOS is the last valid token
        prompt = backend.tokenizer.decode(rollout.prompts[row][rollout.prompt_mask[row] > 0], skip_special_tokens=True)
        text = backend.tokenizer.decode(tokens[:length - 1]) if ended else None
        problem = next(p for p in backend.train_problems if p.prompt == prompt)
        verdict = task.verify(problem, text)
        assert rollout.rewards[row] == float(verdict.correct)
        assert rollout.extras["well_formed"][row] == float(verdict.well_formed)
    torch.testing.assert_close(rollout.sample_log_probs, rollout.old_log_probs, rtol=0, atol=1e-5)


def test_the_gradient_is_the_objective_recomputed_token_by_token(make_backend) -> None:
    """Vanilla PPO, token-mean, on-policy: ``L = -sum_{b,t} A_b exp(logp - old) / N`` from each unpadded sequence."""
    backend = make_backend(temperature=0.8)
    backend.model.double()
    rollout = backend.rollout()
    generator = torch.Generator().manual_seed(0)
    advantages = torch.randn(rollout.batch_size, 1, dtype=torch.float64, generator=generator) * rollout.mask
    loss, _ = Objective(ObjectiveConfig())(PolicyBatch.from_step(rollout, backend.score(rollout, "none"), advantages),
                                           Control())
    backend.backward(loss)
    grads = [p.grad.clone() for p in backend.params]
    backend.model.zero_grad()

    manual = torch.zeros((), dtype=torch.float64)
    valid = rollout.mask.sum()
    for b in range(rollout.batch_size):
        prompt = rollout.prompts[b][rollout.prompt_mask[b] > 0]
        length = int(rollout.mask[b].sum())
        sequence = torch.cat([prompt, rollout.tokens[b, :length]]).unsqueeze(0)
        logits = backend.model(input_ids=sequence).logits[0, len(prompt) - 1:len(prompt) - 1 + length] / 0.8
        for t in range(length):
            logp = torch.log_softmax(logits[t], -1)[rollout.tokens[b, t]]
            manual = manual - advantages[b, t] * torch.exp(logp - rollout.old_log_probs[b, t]) / valid
    manual.backward()
    torch.testing.assert_close(loss.detach()[0], manual.detach(), rtol=1e-6, atol=1e-9)
    for grad, param in zip(grads, backend.params, strict=True):
        torch.testing.assert_close(grad, param.grad, rtol=1e-6, atol=1e-9)


def test_sampled_entropy_estimate_is_the_negative_log_prob(make_backend) -> None:
    backend = make_backend(entropy_estimator="sampled")
    rollout = backend.rollout()
    stats = backend.score(rollout, "grad")
    assert stats.entropy.requires_grad
    torch.testing.assert_close(stats.entropy, -stats.log_probs)
    assert not backend.score(rollout, "detached").entropy.requires_grad


def test_evaluation_reports_pass_at_k_and_leaves_the_training_stream_alone(make_backend) -> None:
    first, second = make_backend(), make_backend()
    metrics = first.evaluate()
    assert set(metrics) == {"eval/pass@1", "eval/pass@2", "eval/entropy", "eval/length", "eval/format_ok"}
    assert 0 <= float(metrics["eval/pass@1"]) <= float(metrics["eval/pass@2"]) <= 1
    assert 0 < float(metrics["eval/entropy"]) <= math.log(99)
    assert torch.equal(first.rollout().tokens, second.rollout().tokens)


def test_a_state_dict_resumes_the_same_trajectory(make_backend) -> None:
    unbroken, broken = make_backend(seed=4), make_backend(seed=4)

    def step(backend) -> torch.Tensor:
        rollout = backend.rollout()
        stats = backend.score(rollout, "none")
        backend.backward((-(stats.log_probs * rollout.mask).sum() * rollout.rewards.mean()).reshape(1) - 1e-3 *
                         stats.log_probs.sum().reshape(1))
        backend.step()
        return rollout.tokens

    step(unbroken), step(broken)
    state = broken.state_dict()
    restarted = make_backend(seed=4)
    restarted.load_state_dict(state)
    assert torch.equal(step(unbroken), step(restarted))
    for mine, theirs in zip(unbroken.params, restarted.params, strict=True):
        assert torch.equal(mine, theirs)


def _moves_away_then_resets(backend, steps: int) -> None:
    """The reference equals the policy at first, differs after ``steps`` updates, and equals it after a reset."""
    rollout = backend.rollout()
    torch.testing.assert_close(rollout.ref_log_probs, rollout.old_log_probs)
    for _ in range(steps):
        stats = backend.score(rollout, "none")
        backend.backward(-(stats.log_probs * rollout.mask).sum().reshape(1))
        backend.step()
    moved = backend.rollout()
    assert (moved.ref_log_probs - moved.old_log_probs).abs().max() > 1e-4
    backend.reset_reference()
    again = backend.rollout()
    torch.testing.assert_close(again.ref_log_probs, again.old_log_probs)


def test_reference_reset_makes_the_policy_the_reference(make_backend) -> None:
    backend = make_backend(use_reference=True, lr=1e-2)
    _moves_away_then_resets(backend, steps=1)
    backend.reset_optimizer()
    assert not backend.optimizer.state


def test_lora_trains_adapters_only_and_its_reference_is_the_base(make_backend) -> None:
    backend = make_backend(lora_rank=4, use_reference=True, lr=1e-2)
    assert backend.params and all("lora_" in name for name, p in backend.model.named_parameters() if p.requires_grad)
    _moves_away_then_resets(backend, steps=2)  # the base at first: LoRA's B = 0 makes the adapters the identity
    state = backend.state_dict()
    assert state["model"] and all("lora_" in name for name in state["model"])


def test_top_k_entropy_is_that_of_the_renormalised_top_k_and_bounds_the_exact_one_below(make_backend) -> None:
    exact, top = make_backend(), make_backend(entropy_estimator="topk", entropy_top_k=3)
    rollout = exact.rollout()
    with torch.no_grad():
        full = exact.score(rollout, "detached").entropy
        approx = top.score(rollout, "detached").entropy
        hidden = exact.model(input_ids=torch.cat([rollout.prompts, rollout.tokens], 1),
                             attention_mask=torch.cat([rollout.prompt_mask, rollout.mask.long()], 1),
                             position_ids=(torch.cat([rollout.prompt_mask, rollout.mask.long()], 1).cumsum(-1) - 1
                                           ).clamp(min=0)).logits[:, rollout.prompts.shape[1] - 1:-1]
    top3 = torch.log_softmax(hidden.topk(3, dim=-1).values, -1)
    expected = -(top3.exp() * top3).sum(-1) * rollout.mask
    torch.testing.assert_close(approx, expected, rtol=1e-5, atol=1e-6)
    valid = rollout.mask > 0
    assert bool((approx[valid] <= math.log(3) + 1e-6).all()) and bool((approx[valid] < full[valid]).all())


def test_sampler_old_log_probs_skip_the_recomputation_and_need_the_full_distribution(make_backend) -> None:
    recomputed, sampled = make_backend(seed=2), make_backend(seed=2, old_log_probs="sampler")
    first, second = recomputed.rollout(), sampled.rollout()
    assert torch.equal(first.tokens, second.tokens)
    assert torch.equal(second.old_log_probs, second.sample_log_probs)
    torch.testing.assert_close(second.old_log_probs, first.old_log_probs, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"backend.old_log_probs must be recompute when top_p < 1"):
        make_backend(old_log_probs="sampler", top_p=0.9)


def test_bfloat16_autocast_keeps_float32_weights_and_scores_close(make_backend) -> None:
    exact, mixed = make_backend(seed=1), make_backend(seed=1, autocast=True)
    rollout = exact.rollout()
    full, approx = exact.score(rollout, "detached"), mixed.score(rollout, "grad")
    assert approx.log_probs.dtype == torch.float32 and approx.entropy.dtype == torch.float32
    valid = rollout.mask > 0
    assert 0 < float((approx.log_probs - full.log_probs).detach()[valid].abs().max()) < 0.05
    mixed.backward(-(approx.log_probs * rollout.mask).sum().reshape(1))
    assert all(p.grad.dtype == torch.float32 for p in mixed.params) and math.isfinite(float(mixed.step()["grad/norm"]))
