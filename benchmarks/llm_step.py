"""Seconds per RL step of entropic's LLM backend beside TRL's ``GRPOTrainer``, same model, prompts and settings.

Usage::

    python benchmarks/llm_step.py [--repeats 10 --warmup 1 --threads 2 --num-prompts 16 --group-size 8
                                   --max-new-tokens 6 --old-log-probs sampler --device cpu
                                   --json benchmarks/llm_step.json]
    python benchmarks/llm_step.py --large --device cuda     # a Qwen2.5-0.5B-shaped model, on a GPU

Both sides start from the same weights: entropic's ``backend=hf_tiny`` builds the model and its character
tokenizer in memory (``entropic.llm.model.tiny_model``, 2 layers x 128, V = 99) with no warm start
(``pretrain_steps=0``, ``cache_dir=''``: random weights, nothing read or written), and TRL gets a
``copy.deepcopy`` of that model and of the tokenizer. ``--large`` instead writes a randomly initialised model
of Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 key/value heads, intermediate 4864, V = 151936,
tied embeddings) and the character tokenizer to a temporary directory and gives it to ``backend=hf`` as
``backend.model``: nothing is downloaded; the prompts are the character tokenizer's ids, and sampled ids
outside its 99 decode to nothing. It is only meaningful on a GPU (bfloat16 unless ``--dtype`` says otherwise).

The task is ``addition`` (two 2-digit operands). Entropic runs its ``method=grpo`` preset through
``entropic.experiment.build_trainer`` (PPO clip 0.2/0.2 with verl's dual clip 3.0, ``token-mean``
aggregation, group-normalised advantages, no KL, one optimizer step per rollout, exact token entropy for
logging) and is timed by ``Trainer.train_step()``. TRL 1.16 runs ``GRPOTrainer`` on a ``datasets.Dataset`` of
the same prompt texts with a reward from the same verifier (``task.verify``; a response without EOS counts
as ``None``, as in entropic), configured for the same step: ``num_generations`` = G,
``per_device_train_batch_size`` = P x G, ``gradient_accumulation_steps`` = ``steps_per_generation`` =
``num_iterations`` = 1 (one generation batch, one optimizer step), ``loss_type="dapo"`` (the sum of the
clipped token losses over the number of valid tokens of the generation batch: entropic's ``token-mean``),
``beta=0`` (no reference), ``scale_rewards="group"``, ``epsilon`` = the clip ratios, the same temperature,
``top_p``, ``top_k=0``, ``max_completion_length`` = ``max_new_tokens``, AdamW (``optim="adamw_torch"``) with
entropic's learning rate, betas, epsilon, weight decay and gradient clipping at a constant rate, no vLLM,
no gradient checkpointing, no logging, no saving.

The steps interleave: a ``transformers.TrainerCallback`` runs one entropic step in ``on_step_begin``, then
times TRL's step from there to ``on_step_end`` (generation, rewards, advantages, the loss's forward and
backward, clipping, the optimizer step; not the data loader's fetch of the prompts nor the logging hook).
The first ``--warmup`` steps of each side are dropped; the table shows medians over ``--repeats`` steps,
``ratio = entropic / TRL``, and entropic's split, from its backend's methods wrapped by a timer:
``generate`` (``_sample``: encoding, ``generate``, decoding, verification), ``score`` (every ``score``:
the rollout's old log-probs without grad, with ``--old-log-probs recompute``, and the loop's score with
grad), ``update`` (``backward`` and
``step``) and ``other`` (the rest: advantages, sensors, the objective). TRL exposes no split without a
tracker (its profiling reports only to wandb, MLflow or Trackio), so its whole step is shown. Work that
differs: with ``--old-log-probs recompute`` entropic scores old log-probs in a separate pass without grad
(verl's way; TRL reuses the detached log-probs on policy, as ``sampler``, the default here, takes the
sampler's); entropic applies verl's dual clip and computes the exact entropy for logging, TRL its entropy
inside its fused LM head.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
import trl
from hydra import compose, initialize_config_module
from transformers import AutoModelForCausalLM, PrinterCallback, Qwen2Config, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from entropic.allocator import retain_freed_memory
from entropic.experiment import build_trainer
from entropic.llm import HFBackend
from entropic.llm.tasks import TextProblem, TextTask
from entropic.llm.tokenizer import character_tokenizer
from entropic.loop import Trainer

PARTS = {"generate": ("_sample",), "score": ("score",), "update": ("backward", "step")}
"""Entropic's split: part -> the backend methods whose time it sums."""
LARGE_SHAPE = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                   intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
"""Qwen2.5-0.5B's shape (``--large``)."""
QUIET = ["trainer.tensorboard=false", "trainer.checkpoint_every=0", "trainer.eval_every=0"]

Sync = Callable[[], None]


def synchronizer(device: str) -> Sync:
    """What waits for the device's queued work before a clock is read (nothing on the CPU)."""
    if device == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def large_model_dir(directory: Path, dtype: str) -> Path:
    """Write a randomly initialised Qwen2 model of :data:`LARGE_SHAPE` and the character tokenizer to ``directory``."""
    tokenizer = character_tokenizer()
    config = Qwen2Config(**LARGE_SHAPE, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def backend_overrides(args: argparse.Namespace, model_dir: Path | None) -> list[str]:
    """Hydra overrides of entropic's backend: ``hf_tiny`` without warm start, or the ``--large`` model."""
    overrides = ["backend=hf_tiny", f"backend.device={args.device}", "backend.cache_dir=''",
                 "backend.pretrain_steps=0", "backend.init_accuracy=0.0", f"backend.num_prompts={args.num_prompts}",
                 f"backend.group_size={args.group_size}", f"backend.max_new_tokens={args.max_new_tokens}",
                 f"backend.dtype={args.dtype}", "backend.task=addition", f"backend.old_log_probs={args.old_log_probs}"]
    if model_dir is not None:
        overrides.append(f"backend.model='{model_dir}'")
    return overrides


def entropic_trainer(args: argparse.Namespace, model_dir: Path | None, output_dir: Path) -> Trainer:
    """Entropic's trainer: the ``grpo`` method preset on the LLM backend."""
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*backend_overrides(args, model_dir), "method=grpo",
                                                      f"seed={args.seed}", *QUIET])
    return build_trainer(cfg, output_dir)


class EntropicSide:
    """Runs entropic's steps one at a time; records each step's seconds, its parts and its response length.

    Parameters
    ----------
    trainer : Trainer
        Entropic's trainer; its backend's methods named in :data:`PARTS` are wrapped by a timer.
    sync : callable
        Waits for the device before each clock reading.
    """

    def __init__(self, trainer: Trainer, sync: Sync) -> None:
        self.trainer, self.sync = trainer, sync
        self.samples: dict[str, list[float]] = defaultdict(list)
        self._parts = dict.fromkeys(PARTS, 0.0)
        self._tokens = 0.0
        backend = trainer.backend
        for part, names in PARTS.items():
            for name in names:
                setattr(backend, name, self._timed(part, getattr(backend, name)))
        rollout = backend.rollout

        def measured_rollout() -> Any:
            batch = rollout()
            self._tokens = float(batch.mask.sum(-1).mean())
            return batch

        backend.rollout = measured_rollout

    def _timed(self, part: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.sync()
                self._parts[part] += time.perf_counter() - start
        return timed

    def step(self, record: bool) -> None:
        """One ``train_step``; its times go into :attr:`samples` when ``record``."""
        self._parts = dict.fromkeys(PARTS, 0.0)
        self.sync()
        start = time.perf_counter()
        self.trainer.train_step()
        self.sync()
        total = time.perf_counter() - start
        if record:
            self.samples["total"].append(total)
            for part, seconds in self._parts.items():
                self.samples[part].append(seconds)
            self.samples["other"].append(total - sum(self._parts.values()))
            self.samples["tokens"].append(self._tokens)


class Interleave(TrainerCallback):
    """An entropic step before each TRL step, and TRL's step timed from ``on_step_begin`` to ``on_step_end``.

    Parameters
    ----------
    entropic : EntropicSide
        The other side.
    warmup : int
        Leading steps of each side left out of the records.
    sync : callable
        Waits for the device before each clock reading.
    """

    def __init__(self, entropic: EntropicSide, warmup: int, sync: Sync) -> None:
        self.entropic, self.warmup, self.sync = entropic, warmup, sync
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.entropic.step(record=state.global_step >= self.warmup)
        self.sync()
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.sync()
        if state.global_step > self.warmup:  # already counts the step just done
            self.seconds.append(time.perf_counter() - self._start)


class VerifierReward:
    """TRL reward function: 1 for a response ``task.verify`` finds correct, else 0 (entropic's reward with its
    defaults); a response that did not end with EOS is verified as ``None``, as entropic does. Records each
    call's mean response length in :attr:`lengths` (one call a step)."""

    def __init__(self, task: TextTask, problems: list[TextProblem], eos_token_id: int) -> None:
        self.task, self.problems, self.eos_token_id = task, problems, eos_token_id
        self.lengths: list[float] = []

    def __call__(self, completions: list[str], completion_ids: list[list[int]], problem: list[int], **_: Any
                 ) -> list[float]:
        self.lengths.append(statistics.fmean(len(ids) for ids in completion_ids))
        texts = [text if ids and ids[-1] == self.eos_token_id else None
                 for text, ids in zip(completions, completion_ids, strict=True)]
        return [float(self.task.verify(self.problems[i], text).correct) for i, text in zip(problem, texts, strict=True)]


def trl_config(backend: HFBackend, clip: tuple[float, float], args: argparse.Namespace, output_dir: Path
               ) -> GRPOConfig:
    """TRL's settings for entropic's step: one generation batch of P x G responses, one optimizer step."""
    config = backend.config
    batch = config.num_prompts * config.group_size
    return GRPOConfig(
        output_dir=str(output_dir), per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        steps_per_generation=1, num_iterations=1, num_generations=config.group_size,
        max_completion_length=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p, top_k=0,
        learning_rate=config.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=config.weight_decay,
        adam_beta1=config.adam_beta1, adam_beta2=config.adam_beta2, adam_epsilon=config.adam_eps,
        max_grad_norm=config.max_grad_norm or 0.0, optim="adamw_torch", beta=0.0, loss_type="dapo",
        epsilon=clip[0], epsilon_high=clip[1], scale_rewards="group", use_vllm=False,
        use_cpu=args.device == "cpu", bf16=config.dtype == "bfloat16", fp16=False,
        gradient_checkpointing=config.gradient_checkpointing, max_steps=args.warmup + args.repeats,
        report_to=[], logging_strategy="no", save_strategy="no", disable_tqdm=True, seed=args.seed,
        dataloader_num_workers=0, log_completions=False)


def trl_trainer(backend: HFBackend, clip: tuple[float, float], reward: VerifierReward, callback: Interleave,
                args: argparse.Namespace, output_dir: Path) -> GRPOTrainer:
    """TRL's trainer on copies of the backend's initial model and tokenizer, over its training prompts."""
    problems = backend.train_problems
    dataset = datasets.Dataset.from_dict({"prompt": [p.prompt for p in problems],
                                          "problem": list(range(len(problems)))})
    trainer = GRPOTrainer(model=copy.deepcopy(backend.model), reward_funcs=[reward],
                          args=trl_config(backend, clip, args, output_dir), train_dataset=dataset,
                          processing_class=copy.deepcopy(backend.tokenizer), callbacks=[callback])
    trainer.remove_callback(PrinterCallback)  # it prints the end-of-training log
    return trainer


def trl_settings(config: GRPOConfig) -> dict[str, Any]:
    """The TRL settings that define the step, for the record."""
    names = ("per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation",
             "generation_batch_size", "num_iterations", "num_generations", "max_completion_length", "temperature",
             "top_p", "top_k", "learning_rate", "lr_scheduler_type", "optim", "weight_decay", "max_grad_norm",
             "beta", "loss_type", "epsilon", "epsilon_high", "scale_rewards", "use_vllm", "use_cpu", "bf16",
             "gradient_checkpointing")
    return {name: getattr(config, name) for name in names}  # the enums are str: JSON writes their values


def model_description(backend: HFBackend) -> dict[str, Any]:
    """The policy's shape and parameter count."""
    shape = backend.model.config
    return {"architecture": shape.model_type, "layers": shape.num_hidden_layers, "hidden": shape.hidden_size,
            "heads": shape.num_attention_heads, "kv_heads": shape.num_key_value_heads,
            "intermediate": shape.intermediate_size, "vocab": shape.vocab_size,
            "parameters": sum(p.numel() for p in backend.model.parameters())}


def rows(entropic: dict[str, list[float]], trl_seconds: list[float], trl_tokens: list[float]) -> list[dict]:
    """Each side's medians: seconds per step (and entropic's parts) and response tokens."""
    mine = {name: statistics.median(values) for name, values in entropic.items()}
    return [{"side": "entropic", "s_per_step": mine["total"], **{f"{p}_s": mine[p] for p in (*PARTS, "other")},
             "tokens_per_response": mine["tokens"]},
            {"side": "trl", "s_per_step": statistics.median(trl_seconds),
             "tokens_per_response": statistics.median(trl_tokens)}]


def print_table(results: list[dict]) -> None:
    """Median seconds per step of each side, entropic's parts, response tokens, and the ratio."""
    parts = (*PARTS, "other")
    print(f"{'side':10s} {'s/step':>8s} " + " ".join(f"{p:>9s}" for p in parts) + f" {'tokens/resp':>12s}")
    for row in results:
        split = " ".join(f"{row[f'{p}_s']:9.4f}" if f"{p}_s" in row else f"{'-':>9s}" for p in parts)
        print(f"{row['side']:10s} {row['s_per_step']:8.4f} {split} {row['tokens_per_response']:12.2f}")
    print(f"ratio entropic / TRL: {results[0]['s_per_step'] / results[1]['s_per_step']:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed steps of each side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed leading steps of each side")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (both sides)")
    parser.add_argument("--num-prompts", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=6)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--large", action="store_true", help="a Qwen2.5-0.5B-shaped model with random weights")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                        help="parameter dtype (default: bfloat16 with --large, else float32)")
    parser.add_argument("--old-log-probs", choices=("recompute", "sampler"), default="sampler",
                        help="entropic's old log-probs: the sampler's, as TRL on-policy (default), or recomputed "
                             "by a teacher-forced pass, as verl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="benchmarks/llm_step.json")
    args = parser.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.large else "float32")
    return args


def report(args: argparse.Namespace, model: dict[str, Any], trl_args: GRPOConfig, results: list[dict]) -> dict:
    """The JSON record: versions, settings of both sides, the rows and the ratio."""
    return {"machine": platform.processor() or platform.machine(), "threads": args.threads,
            "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "device": args.device, "dtype": args.dtype, "model": model,
            "initial_weights": "random (pretrain_steps=0: no warm start)", "task": "addition",
            "num_prompts": args.num_prompts, "group_size": args.group_size, "max_new_tokens": args.max_new_tokens,
            "repeats": args.repeats, "warmup": args.warmup,
            "entropic": {"objective": "grpo", "loss_agg_mode": "token-mean", "lr": trl_args.learning_rate,
                         "old_log_probs": args.old_log_probs},
            "trl_settings": trl_settings(trl_args), "rows": results,
            "ratio": results[0]["s_per_step"] / results[1]["s_per_step"]}


def main() -> None:
    retain_freed_memory()
    args = parse_args()
    torch.set_num_threads(args.threads)
    sync = synchronizer(args.device)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = large_model_dir(root / "model", args.dtype) if args.large else None
        trainer = entropic_trainer(args, model_dir, root / "entropic")
        backend = trainer.backend
        clip = (float(trainer.control.clip_ratio_low), float(trainer.control.clip_ratio_high))
        entropic = EntropicSide(trainer, sync)
        callback = Interleave(entropic, args.warmup, sync)
        reward = VerifierReward(backend.task, backend.train_problems, backend.tokenizer.eos_token_id)
        peer = trl_trainer(backend, clip, reward, callback, args, root / "trl")  # before any step: the same weights
        model = model_description(backend)
        print(f"RL step, addition, {args.num_prompts} prompts x {args.group_size} responses, {args.max_new_tokens} "
              f"new tokens, {model['architecture']} {model['layers']} layers x {model['hidden']} (V={model['vocab']}, "
              f"{model['parameters'] / 1e6:.2f}M parameters), {args.dtype} on {args.device}, {args.threads} threads, "
              f"{args.repeats} repeats; torch {torch.__version__}, transformers {transformers.__version__}, "
              f"trl {trl.__version__} (loss_type={peer.args.loss_type}); entropic old log-probs: {args.old_log_probs}")
        peer.train()
    results = rows(entropic.samples, callback.seconds, reward.lengths[args.warmup:])
    print_table(results)
    with open(args.json, "w") as handle:
        json.dump(report(args, model, peer.args, results), handle, indent=2)


if __name__ == "__main__":
    main()
