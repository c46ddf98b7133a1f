"""The tiny model's warm start: supervised training on noisy demonstrations, cached by config hash.

As pre-training gives an LLM its prior, the tiny model learns the task from demonstrations, some of
them wrong: each answer character is replaced by a random one with probability ``demo_noise``. Every
``pretrain_eval_every`` steps the reference-answer probability on held-out problems is measured,
teacher-forced at the sampling temperature (``mean_p prod_t pi(y*_t)``, EOS included: exact pass@1
for tasks with one correct answer, a lower bound otherwise), and training stops once it reaches
``init_accuracy``. So RL starts from a policy that is right sometimes and unsure often. The weights and
that accuracy are cached under ``<cache dir>/llm_tiny/<hash of the warm-start fields>.pt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from entropic.cache import atomic_save, cache_dir
from entropic.llm.config import TINY_FIELDS, HFConfig
from entropic.llm.encoding import encode_answers, encode_prompts
from entropic.llm.scoring import response_hidden, token_stats
from entropic.llm.tasks import TextProblem, TextTask

log = logging.getLogger(__name__)

WARM_START_VERSION = 1
"""Bumped whenever the warm start changes, so stale cache entries are not reused."""
HELD_OUT_PROBLEMS = 128


def cache_key(config: HFConfig) -> str:
    """Hex digest of the fields that determine the warm start."""
    fields = {name: getattr(config, name) for name in TINY_FIELDS}
    fields["version"] = WARM_START_VERSION
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:24]


def load_or_warm_start(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: TextTask,
                       config: HFConfig) -> dict[str, float]:
    """Put the cached warm start of ``config`` into ``model`` (training and caching it first if absent).

    Returns the warm start's statistics: ``accuracy``, ``steps``, ``loss``.
    """
    directory = cache_dir(config.cache_dir)
    path = None if directory is None else directory / "llm_tiny" / f"{cache_key(config)}.pt"
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["model"])
        return saved["stats"]
    log.info("warm-starting the tiny LLM on %s (cached at %s)", config.task, path)
    stats = warm_start(model, tokenizer, task, config)
    if path is not None:
        atomic_save(path, {"model": model.state_dict(), "stats": stats})
    return stats


def reference_probability(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, problems: list[TextProblem],
                          config: HFConfig, device: torch.device) -> float:
    """Mean over ``problems`` of the teacher-forced probability of the reference answer and EOS."""
    prompt_ids, prompt_mask = encode_prompts(tokenizer, [p.prompt for p in problems], config.chat_template, device)
    answers, mask = encode_answers(tokenizer, [p.answer for p in problems], config.max_new_tokens, device)
    with torch.no_grad():
        hidden = response_hidden(model, prompt_ids, prompt_mask, answers, mask)
        log_probs, _ = token_stats(hidden, answers, mask, model.get_output_embeddings(), config.temperature, "none",
                                   config.logits_chunk_rows)
    return float(log_probs.sum(-1).exp().mean())


def _noisy(task: TextTask, problem: TextProblem, rng: random.Random, noise: float, alphabet: str) -> str:
    noisy_answer = getattr(task, "noisy_answer", None)
    if noisy_answer is not None:
        return noisy_answer(problem, rng, noise)
    return "".join(rng.choice(alphabet) if rng.random() < noise else c for c in problem.answer)


def warm_start(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: TextTask,
               config: HFConfig) -> dict[str, Any]:
    """Supervised steps on noisy demonstrations until the reference probability reaches ``init_accuracy``."""
    device = next(model.parameters()).device
    pool = task.problems("train", config.num_train_problems, config.task_seed)
    held_out = task.problems("eval", HELD_OUT_PROBLEMS, config.task_seed + 7)
    alphabet = "".join(sorted({c for p in pool for c in p.answer}))
    rng = random.Random(f"llm-demonstrations-{config.task_seed}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.pretrain_lr, weight_decay=0.0)
    stats: dict[str, Any] = {"accuracy": reference_probability(model, tokenizer, held_out, config, device),
                             "steps": 0, "loss": float("nan")}
    model.train()
    for step in range(1, config.pretrain_steps + 1):
        if stats["accuracy"] >= config.init_accuracy:
            break
        batch = [rng.choice(pool) for _ in range(config.pretrain_batch_size)]
        prompt_ids, prompt_mask = encode_prompts(tokenizer, [p.prompt for p in batch], config.chat_template, device)
        answers, mask = encode_answers(tokenizer, [_noisy(task, p, rng, config.demo_noise, alphabet) for p in batch],
                                       config.max_new_tokens, device)
        hidden = response_hidden(model, prompt_ids, prompt_mask, answers, mask)
        log_probs, _ = token_stats(hidden, answers, mask, model.get_output_embeddings(), 1.0, "none",
                                   config.logits_chunk_rows)
        loss = -(log_probs * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.pretrain_eval_every == 0 or step == config.pretrain_steps:
            accuracy = reference_probability(model, tokenizer, held_out, config, device)
            stats = {"accuracy": accuracy, "steps": step, "loss": float(loss.detach())}
    if stats["accuracy"] < config.init_accuracy:
        log.warning("tiny-LLM warm start reached a reference probability of %.3f < init_accuracy %.3f after %d "
                    "steps (raise pretrain_steps or lower demo_noise)", stats["accuracy"], config.init_accuracy,
                    config.pretrain_steps)
    model.eval()
    return stats
