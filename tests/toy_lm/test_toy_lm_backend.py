"""The toy-LM backend: rollout layout and rewards, score = the sampling distribution, evaluation, resume."""

from __future__ import annotations

import io

import pytest
import torch
from toy_lm_steps import GRPO, QUICK_PRETRAIN, train

from entropic.advantages import compute_advantages
from entropic.control import Control
from entropic.metrics import entropy_from_logits
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.protocol import Backend
from entropic.sims.rng import uniform
from entropic.sims.toy_lm import ToyLMBackend
from entropic.sims.toy_lm.backend import STREAM_SAMPLE
from entropic.sims.toy_lm.model import generate, response_logits
from entropic.sims.toy_lm.tasks import EOS, PAD, response_text, shaped_reward


def test_rollout_layout_mask_and_rewards(tiny) -> None:
    backend = ToyLMBackend(tiny(num_prompts=3, group_size=5), num_runs=2)
    assert isinstance(backend, Backend)
    rollout = backend.rollout()
    B, T = 2 * 3 * 5, backend.config.max_response_len
    assert rollout.tokens.shape == (B, T) and rollout.prompts.shape == (B, backend.task.prompt_len)
    assert torch.equal(rollout.run, torch.arange(2).repeat_interleave(15))
    assert torch.equal(rollout.group, torch.arange(6).repeat_interleave(5))
    problem = rollout.extras["problem"]
    assert torch.equal(rollout.prompts, backend.train_set.prompts[problem])
    assert bool((problem.view(6, 5) == problem.view(6, 5)[:, :1]).all())  # a group shares its problem
    for tokens, mask, pid, reward in zip(rollout.tokens.tolist(), rollout.mask.tolist(), problem.tolist(),
                                         rollout.rewards.tolist(), strict=True):
        end = tokens.index(EOS) + 1 if EOS in tokens else T
        assert mask == [1.0] * end + [0.0] * (T - end) and set(tokens[end:]) <= {PAD}
        assert reward == float(backend.task.verify(backend.train_set.problems[pid], response_text(tokens)).correct)
    assert torch.equal(rollout.rewards, rollout.extras["correct"])
    assert bool((rollout.old_log_probs[rollout.mask == 0] == 0).all())


def test_old_log_probs_are_what_score_computes_and_the_sampler_agrees(tiny) -> None:
    backend = ToyLMBackend(tiny(temperature=0.7), num_runs=3)
    rollout = backend.rollout()
    stats = backend.score(rollout)
    assert torch.equal(stats.log_probs.detach(), rollout.old_log_probs)  # ratio exactly 1 on policy
    assert torch.allclose(rollout.sample_log_probs, rollout.old_log_probs, atol=1e-5)
    assert torch.allclose(rollout.ref_log_probs, rollout.old_log_probs)  # nothing trained yet


@pytest.mark.parametrize("temperature", [1.0, 0.6, 1.7])
def test_score_entropy_is_the_entropy_of_the_sampling_distribution(tiny, temperature: float) -> None:
    backend = ToyLMBackend(tiny(temperature=temperature, num_prompts=8), num_runs=2)
    rollout = backend.rollout()
    stats = backend.score(rollout)
    R, T = 2, backend.config.max_response_len
    prompts, mask = rollout.prompts.view(R, -1, backend.task.prompt_len), rollout.mask > 0
    u = uniform(backend.seeds, 0, STREAM_SAMPLE, prompts.shape[1] * T).view(R, -1, T)
    sample = generate(backend.params, prompts, T, backend.config.n_head, temperature, u)  # the rollout's sampler
    assert torch.equal(sample.tokens.view(-1, T), rollout.tokens)
    probs = sample.logits.softmax(-1).view(-1, T, 24)  # what each token was drawn from
    drawn_from = -(probs * probs.log()).sum(-1)
    assert torch.allclose(stats.entropy[mask], drawn_from[mask], atol=1e-5)
    raw = response_logits(backend.params, prompts, sample.tokens, backend.config.n_head).reshape(-1, T, 24)
    assert torch.allclose(stats.entropy[mask], entropy_from_logits(raw / temperature)[mask], atol=1e-5)
    if temperature != 1.0:
        assert not torch.allclose(stats.entropy[mask], entropy_from_logits(raw)[mask], atol=1e-3)


def test_score_on_a_shuffled_subset_gives_the_same_rows(tiny) -> None:
    backend = ToyLMBackend(tiny(), num_runs=3)
    rollout = backend.rollout()
    stats = backend.score(rollout)
    index = torch.randperm(rollout.batch_size, generator=torch.Generator().manual_seed(0))[:29]
    part = backend.score(rollout.select(index))
    assert torch.allclose(part.log_probs, stats.log_probs[index], atol=1e-6)
    assert torch.allclose(part.entropy, stats.entropy[index], atol=1e-6)


def test_top_entropy_mask_keeps_the_stated_fraction_of_tokens(tiny) -> None:
    backend = ToyLMBackend(tiny(num_prompts=16, group_size=1), num_runs=2)
    rollout = backend.rollout()
    stats = backend.score(rollout)
    objective = Objective(ObjectiveConfig(modifiers=["top_entropy"]))
    batch = PolicyBatch.from_step(rollout, stats, compute_advantages(rollout, GRPO))
    for rho in (0.2, 0.5, 0.8):
        _, metrics = objective(batch, Control(top_entropy_quantile=rho))
        kept = metrics["actor/top_entropy_keep_frac"]
        for r in range(2):
            valid = stats.entropy.detach()[(rollout.run == r).unsqueeze(-1) & (rollout.mask > 0)]
            ties = int((valid.unsqueeze(0) == valid.unsqueeze(1)).sum(0).max())  # tokens sharing one value
            n = valid.numel()
            assert rho - 1.0 / n <= float(kept[r]) <= rho + ties / n, (rho, r, float(kept[r]))


def test_format_and_overlong_shaping_reach_the_rollout_rewards(tiny) -> None:
    config = tiny(format_penalty=0.5, overlong_buffer_len=2, num_prompts=8)
    backend = ToyLMBackend(config, num_runs=2)
    rollout = backend.rollout()
    expected = shaped_reward(rollout.extras["correct"] > 0, rollout.extras["well_formed"] > 0, rollout.lengths(),
                             config.max_response_len, 0.5, 2, 1.0)
    assert bool((rollout.rewards < rollout.extras["correct"]).any())  # some responses are penalised
    assert torch.equal(rollout.rewards, expected)


def test_evaluate_pass_at_1_is_the_exact_answer_probability(tiny) -> None:
    backend = ToyLMBackend(tiny(), num_runs=2, seeds=[3, 4])
    metrics = backend.evaluate()
    assert set(metrics) == {"eval/pass@1", "eval/pass@4", "eval/entropy", "eval/length", "eval/format_ok",
                            "eval/sampled_accuracy", "eval/greedy_accuracy"}
    data, T = backend.eval_set, backend.config.max_response_len
    answers = torch.full((len(data), T), PAD, dtype=torch.long)
    answers[:, :data.answers.shape[1]] = data.answers
    logits = response_logits(backend.params, data.prompts.expand(2, -1, -1), answers.expand(2, -1, -1),
                             backend.config.n_head)
    token_probs = logits.softmax(-1).gather(-1, answers.expand(2, -1, -1).unsqueeze(-1)).squeeze(-1)
    probability = torch.where(answers != PAD, token_probs, 1.0).prod(-1)
    assert torch.allclose(metrics["eval/pass@1"], probability.mean(-1), atol=1e-5)
    assert bool((metrics["eval/pass@4"] > metrics["eval/pass@1"]).all())
    assert abs(float(metrics["eval/entropy"].mean()) - backend.prior_stats["entropy"]) < 0.3


def test_state_dict_round_trip_mid_run_is_bit_identical(tiny) -> None:
    config = tiny()
    backend = ToyLMBackend(config, num_runs=2, lr=torch.tensor([3e-4, 1e-3]))
    train(backend, 2)
    buffer = io.BytesIO()
    torch.save(backend.state_dict(), buffer)
    continued = train(backend, 2)
    restored = ToyLMBackend(config, num_runs=2)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(train(restored, 2), continued)
    for name, param in backend.params.items():
        assert torch.equal(restored.params[name], param), name
    with pytest.raises(ValueError, match="state_dict parameter 'wte' has shape"):
        ToyLMBackend(config, num_runs=3).load_state_dict(backend.state_dict())


def test_backward_checks_the_loss_shape_and_step_reports_per_run_diagnostics(tiny) -> None:
    backend = ToyLMBackend(tiny(), num_runs=2)
    rollout = backend.rollout()
    stats = backend.score(rollout, entropy="none")
    assert stats.entropy is None
    loss = -(stats.log_probs * rollout.mask).sum(-1).view(2, -1).mean(-1)
    backend.backward(loss)
    metrics = backend.step()
    assert set(metrics) == {"grad/norm", "response/length_mean", "response/clip_frac", "response/accuracy",
                            "response/format_ok"}
    assert all(value.shape == (2,) for value in metrics.values())
    with pytest.raises(ValueError, match=r"backward needs one loss per run, shape \[2\]"):
        backend.backward(loss.sum())
    with pytest.raises(ValueError, match="lr must be > 0"):
        ToyLMBackend(tiny(), num_runs=2, lr=[1e-3, 0.0])


@pytest.mark.parametrize("task, digits, operands", [("sort", 1, 3), ("countdown", 1, 3)])
def test_other_tasks_train_a_step_and_evaluate(tiny, task: str, digits: int, operands: int) -> None:
    backend = ToyLMBackend(tiny(task=task, num_digits=digits, num_operands=operands, **QUICK_PRETRAIN), num_runs=2)
    rollout = backend.rollout()
    for tokens, pid, correct in zip(rollout.tokens.tolist(), rollout.extras["problem"].tolist(),
                                    rollout.extras["correct"].tolist(), strict=True):
        assert correct == float(backend.task.verify(backend.train_set.problems[pid], response_text(tokens)).correct)
    train(backend, 1)
    metrics = backend.evaluate()
    assert all(bool(torch.isfinite(value).all()) for value in metrics.values())
    assert "eval/pass@4" in metrics
