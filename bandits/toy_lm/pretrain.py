"""The warm start: supervised training on noisy demonstrations, calibrated and cached by config hash.

Like pre-training, the model learns the task from demonstrations, some of them wrong: each answer
character is replaced by a random character of the task's alphabet with probability ``demo_noise``.
Every ``pretrain_eval_every`` steps the model is calibrated on a held-out set:

1. the output head is rescaled by ``alpha`` (logits ``alpha * z``; greedy answers unchanged) so that the
   mean token entropy along correct responses, teacher-forced, of the model's own distribution
   (temperature 1; the RL sampling temperature is applied on top, as for a pretrained LLM) equals
   ``init_entropy`` (entropy is decreasing in ``alpha``, so bisection finds it);
2. pass@1 at that ``alpha`` is measured: exactly for tasks with one correct answer
   (``mean_p prod_t pi(y*_t)``), by sampling for countdown;

and training stops once pass@1 reaches ``init_accuracy``. The result (the parameters with ``alpha``
folded into the head, and the achieved accuracy and entropy) is cached under
``<cache dir>/toy_lm/<hash of the pretraining fields>.pt`` so later runs start from the same prior in
milliseconds. Pretraining is deterministic for a given machine and thread count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass

import torch

from entropic.cache import atomic_save
from entropic.metrics import entropy_from_logits
from entropic.sims.rng import uniform
from entropic.sims.toy_lm.config import PRETRAIN_FIELDS, ToyLMConfig
from entropic.sims.toy_lm.model import GPTConfig, Params, generate, init_params, response_logits
from entropic.sims.toy_lm.tasks import EOS, PAD, VOCAB, Dataset, Task, encode, verify_batch

log = logging.getLogger(__name__)

WARM_START_VERSION = 2
"""Bumped whenever pretraining changes, so stale cache entries are not reused."""
CALIBRATION_PROBLEMS = 256
CALIBRATION_SAMPLES = 4
_ALPHA_RANGE = (1e-3, 1e3)


@dataclass
class WarmStart:
    """A pretrained model for one run.

    Attributes
    ----------
    params : dict[str, FloatTensor [1, ...]]
        Parameters (``alpha`` folded into the head).
    stats : dict
        ``accuracy`` (pass@1 on the calibration set), ``entropy`` (nats), ``alpha``, ``steps``,
        ``loss`` (last supervised loss).
    """

    params: Params
    stats: dict[str, float]


def model_config(config: ToyLMConfig) -> GPTConfig:
    """The :class:`GPTConfig` of ``config`` (block = prompt + response)."""
    return GPTConfig(vocab_size=len(VOCAB), block_size=config.make_task().prompt_len + config.max_response_len,
                     n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd)


def cache_key(config: ToyLMConfig) -> str:
    """Hex digest of the fields that determine the warm start."""
    fields = {name: getattr(config, name) for name in PRETRAIN_FIELDS}
    fields["version"] = WARM_START_VERSION
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def load_or_pretrain(config: ToyLMConfig) -> WarmStart:
    """The cached warm start of ``config``, pretraining (and caching) it first if absent."""
    directory = config.resolved_cache_dir()
    path = None if directory is None else directory / "toy_lm" / f"{cache_key(config)}.pt"
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        return WarmStart(saved["params"], saved["stats"])
    log.info("pretraining the toy-LM warm start (%s, cached at %s)", config.task, path)
    warm = pretrain(config)
    if path is not None:
        atomic_save(path, {"params": warm.params, "stats": warm.stats,
                            "config": {name: getattr(config, name) for name in PRETRAIN_FIELDS}})
    return warm


def demonstrations(task: Task, rng: random.Random, size: int, width: int,
                   noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts ``[size, T_prompt]`` and noisy responses ``[size, width]`` (``<eos>``, then ``<pad>``)."""
    prompts, responses = [], []
    for _ in range(size):
        problem = task.sample(rng)
        answer = task.noisy_answer(problem, rng, noise)
        prompts.append(encode(problem.prompt))
        ids = [*encode(answer), EOS]
        responses.append(ids + [PAD] * (width - len(ids)))
    prompts_t = torch.tensor(prompts, dtype=torch.long)
    return torch.cat([torch.full((size, 1), 1, dtype=torch.long), prompts_t], dim=1), torch.tensor(responses)


def _scaled_head(params: Params, alpha: float) -> Params:
    return {**params, "head.w": params["head.w"] * alpha, "head.b": params["head.b"] * alpha}


def calibrate(params: Params, config: ToyLMConfig, task: Task, data: Dataset) -> dict[str, float]:
    """Solve ``alpha`` for ``init_entropy`` (1 when it is ``None``) and measure pass@1 and entropy there."""
    width = config.max_response_len
    answers = torch.full((len(data), width), PAD, dtype=torch.long)
    answers[:, :data.answers.shape[1]] = data.answers
    mask = answers != PAD
    with torch.no_grad():
        logits = response_logits(params, data.prompts.unsqueeze(0), answers.unsqueeze(0), config.n_head)[0]

    def entropy(alpha: float) -> float:
        return float(entropy_from_logits(alpha * logits)[mask].mean())

    alpha = 1.0
    if config.init_entropy is not None:
        low, high = (torch.tensor(x).log().item() for x in _ALPHA_RANGE)
        for _ in range(60):  # entropy falls as alpha grows
            mid = 0.5 * (low + high)
            low, high = (mid, high) if entropy(float(torch.tensor(mid).exp())) > config.init_entropy else (low, mid)
        alpha = float(torch.tensor(0.5 * (low + high)).exp())
    if task.unique_answer:
        token_log_probs = (alpha * logits).log_softmax(-1).gather(-1, answers.unsqueeze(-1)).squeeze(-1)
        accuracy = float((token_log_probs * mask).sum(-1).exp().mean())
    else:
        scaled = _scaled_head(params, alpha)
        n = CALIBRATION_SAMPLES
        prompts = data.prompts.repeat_interleave(n, dim=0).unsqueeze(0)
        u = uniform(torch.tensor([config.task_seed]), 0, 0, prompts.shape[1] * width, logits.dtype)
        sample = generate(scaled, prompts, width, config.n_head, 1.0, u.view(1, -1, width))
        correct = verify_batch(task, data, torch.arange(len(data)).repeat_interleave(n), sample.tokens[0])[0]
        accuracy = float(correct.double().mean())
    return {"alpha": alpha, "accuracy": accuracy, "entropy": entropy(alpha)}


def pretrain(config: ToyLMConfig) -> WarmStart:
    """Supervised training on noisy demonstrations until the calibrated pass@1 reaches ``init_accuracy``."""
    task, dtype = config.make_task(), config.torch_dtype
    generator = torch.Generator().manual_seed(config.task_seed)
    params = {name: p.requires_grad_(True) for name, p in init_params(model_config(config), generator, dtype).items()}
    optimizer = torch.optim.AdamW(params.values(), lr=config.pretrain_lr, weight_decay=0.0)
    rng = random.Random(f"toy-lm-demonstrations-{config.task_seed}")
    held_out = Dataset.build(task, CALIBRATION_PROBLEMS, seed=config.task_seed + 1_000_003)
    stats: dict[str, float] = {}
    for step in range(1, config.pretrain_steps + 1):
        prompts, responses = demonstrations(task, rng, config.pretrain_batch_size, config.max_response_len,
                                            config.demo_noise)
        logits = response_logits(params, prompts.unsqueeze(0), responses.unsqueeze(0), config.n_head)[0]
        mask = responses != PAD
        loss = torch.nn.functional.cross_entropy(logits[mask], responses[mask])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.pretrain_eval_every == 0 or step == config.pretrain_steps:
            detached = {name: p.detach() for name, p in params.items()}
            stats = {**calibrate(detached, config, task, held_out), "steps": step, "loss": float(loss.detach())}
            if config.init_accuracy is not None and stats["accuracy"] >= config.init_accuracy:
                break
    if config.init_accuracy is not None and stats["accuracy"] < config.init_accuracy:
        log.warning("toy-LM warm start reached pass@1 %.3f < init_accuracy %.3f after %d steps (raise "
                    "pretrain_steps, lower demo_noise or init_entropy)", stats["accuracy"], config.init_accuracy,
                    config.pretrain_steps)
    final = _scaled_head({name: p.detach() for name, p in params.items()}, stats["alpha"])
    return WarmStart({name: p.clone() for name, p in final.items()}, stats)

