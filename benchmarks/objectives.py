"""Time entropic's objective parts against verl's own functions: forward + backward on CPU.

Usage::

    python benchmarks/objectives.py [--batch 256 --seq 2048 --repeats 20 --threads 2
                                     --parts vanilla,entropy --json benchmarks/objectives.json]

Compared parts, each side on the same float32 tensors with the same knob values (the
:class:`~entropic.control.Control` defaults, copied into verl's ``ActorConfig``):

- the policy losses ``vanilla``, ``clip_cov``, ``kl_cov``, ``gspo``, ``gpg`` against verl's
  ``core_algos.compute_policy_loss_<name>``, on ``[batch, seq]`` log-probs with a ragged mask;
  ``loss.sum().backward()`` to the log-probs;
- ``entropy``: ``entropic.metrics.entropy_from_logits`` against ``verl_F.entropy_from_logits``,
  the exact entropy of ``[8, 512, 32000]`` logits ``3 * randn``, backward of ``H.sum()`` to the logits.

Each side is warmed up, then the repeats interleave the two sides, alternating which goes
first, so that drifts in the machine's speed hit both; the table shows each side's median and
``ratio = entropic / verl``. The entropic-only rows follow: policy losses without a verl peer,
and vanilla with one modifier or term (``top_entropy_quantile=0.2``, ``entropy_coeff=0.01``,
``off_policy_mask_threshold=0.5``). verl is optional: without it only entropic is timed. It is installed with
``pip install --no-deps verl==0.9.1 codetiming omegaconf ray tensordict transformers``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from entropic.allocator import retain_freed_memory
from entropic.control import Control
from entropic.metrics import entropy_from_logits
from entropic.objectives import MODIFIERS, POLICY_LOSSES, TERMS, Objective, ObjectiveConfig, PolicyBatch

try:
    import verl
    import verl.trainer.ppo.core_algos as core_algos
    import verl.utils.torch_functional as verl_F
    from verl.workers.config import ActorConfig, PolicyLossConfig
except ImportError:
    verl = None

LOSS_AGG_MODES = {"vanilla": "token-mean", "clip_cov": "token-mean", "kl_cov": "token-mean",
                  "gspo": "seq-mean-token-mean", "gpg": "token-mean"}
"""Policy losses with a verl peer, and the ``loss_agg_mode`` both sides use (the GSPO paper's for gspo)."""
ENTROPY_SHAPE = (8, 512, 32000)
"""Logits ``[B, T, V]`` of the entropy part."""

Step = Callable[[], None]


def make_batch(batch: int, seq: int, seed: int = 0) -> PolicyBatch:
    generator = torch.Generator().manual_seed(seed)
    log_probs = (-torch.rand(batch, seq, generator=generator) * 3).requires_grad_(True)
    old = log_probs.detach() + 0.05 * torch.randn(batch, seq, generator=generator)
    lengths = torch.randint(seq // 4, seq + 1, (batch,), generator=generator)
    mask = (torch.arange(seq)[None, :] < lengths[:, None]).float()
    advantages = torch.randn(batch, 1, generator=generator).expand(batch, seq) * mask
    return PolicyBatch(
        log_probs=log_probs, old_log_probs=old, advantages=advantages, mask=mask,
        run=torch.zeros(batch, dtype=torch.long), entropy=torch.rand(batch, seq, generator=generator) * 2,
        ref_log_probs=old - 0.01, generators=[torch.Generator().manual_seed(seed)],
        verified_steps=(torch.rand(batch, seq, generator=generator) < 0.3) & (mask > 0),
        correct=torch.rand(batch, generator=generator) < 0.5)


def backward_step(loss_fn: Callable[[], torch.Tensor], leaf: torch.Tensor) -> Step:
    """Forward, ``loss.sum().backward()``, then zero ``leaf.grad``."""
    def step() -> None:
        loss_fn().sum().backward()
        leaf.grad = None
    return step


def objective_step(config: ObjectiveConfig, batch: PolicyBatch, control: Control) -> Step:
    objective = Objective(config)
    return backward_step(lambda: objective(batch, control)[0], batch.log_probs)


def verl_actor_config(name: str, control: Control) -> ActorConfig:
    """verl's actor config for policy loss ``name`` with ``control``'s knob values."""
    policy_loss = PolicyLossConfig(
        loss_mode=name, clip_cov_ratio=control.clip_cov_ratio, clip_cov_lb=control.clip_cov_lb,
        clip_cov_ub=control.clip_cov_ub, kl_cov_ratio=control.kl_cov_ratio, ppo_kl_coef=control.ppo_kl_coef)
    return ActorConfig(
        strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, clip_ratio=control.clip_ratio_low,
        clip_ratio_low=control.clip_ratio_low, clip_ratio_high=control.clip_ratio_high,
        clip_ratio_c=control.clip_ratio_c, loss_agg_mode=LOSS_AGG_MODES[name], policy_loss=policy_loss)


def verl_step(name: str, batch: PolicyBatch, control: Control) -> Step:
    """verl's ``compute_policy_loss_<name>`` with ``control``'s knob values."""
    fn, config = getattr(core_algos, f"compute_policy_loss_{name}"), verl_actor_config(name, control)
    return backward_step(lambda: fn(
        old_log_prob=batch.old_log_probs, log_prob=batch.log_probs, advantages=batch.advantages,
        response_mask=batch.mask, loss_agg_mode=config.loss_agg_mode, config=config)[0], batch.log_probs)


def compared_parts(batch: PolicyBatch, control: Control) -> dict[str, tuple[Step, Step | None]]:
    """Part name -> (entropic step, verl step or ``None`` without verl)."""
    batch = replace(batch, entropy=None, ref_log_probs=None)  # verl's losses read neither
    parts = {name: (objective_step(ObjectiveConfig(policy_loss=name, loss_agg_mode=mode), batch, control),
                    None if verl is None else verl_step(name, batch, control))
             for name, mode in LOSS_AGG_MODES.items()}
    logits = torch.randn(*ENTROPY_SHAPE, generator=torch.Generator().manual_seed(1)).mul_(3).requires_grad_(True)
    parts["entropy"] = (backward_step(lambda: entropy_from_logits(logits), logits),
                        None if verl is None else backward_step(lambda: verl_F.entropy_from_logits(logits), logits))
    return parts


def entropic_only_parts(batch: PolicyBatch) -> dict[str, Step]:
    """The rows without a verl peer: other policy losses, and vanilla with each modifier and term."""
    control = Control(top_entropy_quantile=0.2, entropy_coeff=0.01, off_policy_mask_threshold=0.5)
    configs = {f"policy_loss={name}": ObjectiveConfig(policy_loss=name)
               for name in POLICY_LOSSES.names() if name not in LOSS_AGG_MODES}
    configs |= {f"modifier={name}": ObjectiveConfig(modifiers=[name]) for name in MODIFIERS.names()}
    configs |= {f"term={name}": ObjectiveConfig(terms=[name]) for name in TERMS.names()}
    return {label: objective_step(config, batch, control) for label, config in configs.items()}


def clock(step: Step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def median_seconds(steps: list[Step], repeats: int) -> list[float]:
    """Median time of each step: two warm-up calls each, then ``repeats`` interleaved rounds."""
    for step in steps:
        step()
        step()
    times: list[list[float]] = [[] for _ in steps]
    for round_ in range(repeats):
        order = range(len(steps)) if round_ % 2 == 0 else reversed(range(len(steps)))
        for i in order:
            times[i].append(clock(steps[i]))
    return [statistics.median(t) for t in times]


def main() -> None:
    retain_freed_memory()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", help="comma-separated row names (default: all), e.g. vanilla,entropy,term=kl")
    parser.add_argument("--json", default="benchmarks/objectives.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = make_batch(args.batch, args.seq)
    compared, alone = compared_parts(batch, Control()), entropic_only_parts(batch)
    if args.parts:
        wanted = set(args.parts.split(","))
        unknown = wanted - set(compared) - set(alone)
        if unknown:
            parser.error(f"unknown parts {sorted(unknown)}; known: {sorted(compared) + sorted(alone)}")
        compared = {k: v for k, v in compared.items() if k in wanted}
        alone = {k: v for k, v in alone.items() if k in wanted}
    verl_version = verl.__version__ if verl is not None else None
    print(f"objective parts, forward+backward on [{args.batch}, {args.seq}] float32 (entropy: "
          f"{list(ENTROPY_SHAPE)}), {args.threads} threads, torch {torch.__version__}, "
          f"verl {verl_version or 'not found: entropic alone'}")
    print(f"{'part':32s} {'entropic ms':>12s} {'verl ms':>10s} {'ratio':>7s}")
    results = []
    for name, (mine, peer) in compared.items():
        if peer is None:
            (entropic_s,), verl_s = median_seconds([mine], args.repeats), None
        else:
            entropic_s, verl_s = median_seconds([mine, peer], args.repeats)
        ratio = entropic_s / verl_s if verl_s else None
        results.append({"part": name, "entropic_ms": entropic_s * 1e3,
                        "verl_ms": verl_s * 1e3 if verl_s else None, "ratio": ratio})
        peer_text = f"{verl_s * 1e3:10.2f} {ratio:7.2f}" if verl_s else f"{'-':>10s} {'-':>7s}"
        print(f"{name:32s} {entropic_s * 1e3:12.2f} {peer_text}")
    for label, step in alone.items():
        (entropic_s,) = median_seconds([step], args.repeats)
        results.append({"part": label, "entropic_ms": entropic_s * 1e3, "verl_ms": None, "ratio": None})
        print(f"{label:32s} {entropic_s * 1e3:12.2f}")
    with open(args.json, "w") as handle:
        json.dump({"shape": [args.batch, args.seq], "entropy_shape": list(ENTROPY_SHAPE),
                   "threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
                   "verl": verl_version, "machine": platform.processor() or platform.machine(),
                   "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
