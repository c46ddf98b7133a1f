"""Time every objective part on [256, 2048] tensors (CPU): forward + backward.

Usage: ``python benchmarks/objectives.py [--batch 256 --seq 2048 --repeats 20 --json out.json]``.
Prints a table (ms per call, ns per token) and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from entropic.allocator import retain_freed_memory
from entropic.control import Control
from entropic.objectives import MODIFIERS, POLICY_LOSSES, TERMS, Objective, ObjectiveConfig, PolicyBatch


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
        ref_log_probs=old - 0.01, generators=[torch.Generator().manual_seed(seed)])


def configurations() -> list[tuple[str, ObjectiveConfig]]:
    rows = [(f"policy_loss={name}", ObjectiveConfig(policy_loss=name)) for name in POLICY_LOSSES.names()]
    rows += [(f"vanilla + modifier={name}", ObjectiveConfig(modifiers=[name])) for name in MODIFIERS.names()]
    rows += [(f"vanilla + term={name}", ObjectiveConfig(terms=[name])) for name in TERMS.names()]
    return rows


def time_call(objective: Objective, batch: PolicyBatch, control: Control, repeats: int) -> float:
    def step() -> None:
        loss, _ = objective(batch, control)
        loss.sum().backward()
        batch.log_probs.grad = None

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    retain_freed_memory()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default="benchmarks/objectives.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    batch = make_batch(args.batch, args.seq)
    control = Control(top_entropy_quantile=0.2, entropy_coeff=0.01, off_policy_mask_threshold=0.5)
    results = []
    print(f"objective parts, forward+backward on [{args.batch}, {args.seq}] float32, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'configuration':40s} {'ms/call':>10s} {'ns/token':>10s}")
    for label, config in configurations():
        seconds = time_call(Objective(config), batch, control, args.repeats)
        ns_per_token = seconds * 1e9 / (args.batch * args.seq)
        results.append({"configuration": label, "ms_per_call": seconds * 1e3, "ns_per_token": ns_per_token})
        print(f"{label:40s} {seconds * 1e3:10.2f} {ns_per_token:10.2f}")
    with open(args.json, "w") as handle:
        json.dump({"shape": [args.batch, args.seq], "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
                   "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
