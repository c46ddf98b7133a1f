"""Time GRPO steps of the toy LM (CPU) alone and vectorised: RL steps/s and tokens/s at R = 1, 16, 64.

Usage: ``python benchmarks/toy_lm.py [--runs 1 16 64 --steps 5 --json benchmarks/toy_lm.json]`` plus any
``ToyLMConfig`` field as ``--set name=value`` (default: the ``configs/backend/toy_lm.yaml`` setup, 2-digit
addition, 2 layers, width 64, 16 prompts x 8 responses per run). A step is the five moves: rollout
(sampling with a key/value cache, verification, old and reference log-probs), GRPO advantages, score,
the vanilla objective, apply. Prints ms per step and its split, RL steps/s (a step of all R runs),
run-steps/s (R x steps/s) and generated response tokens/s over all runs, and writes them as JSON.
The warm start is loaded from (or pretrained into) the usual cache before timing.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform

import torch
from step_timer import MOVES, time_moves

from entropic.allocator import retain_freed_memory
from entropic.sims.toy_lm import ToyLMBackend, ToyLMConfig


def main() -> None:
    retain_freed_memory()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per R (after one warm-up step)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a ToyLMConfig field, e.g. --set n_embd=128 (repeatable)")
    parser.add_argument("--json", default="benchmarks/toy_lm.json")
    args = parser.parse_args()
    fields = {}
    for item in args.set:
        name, value = item.split("=", 1)
        try:
            fields[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            fields[name] = value
    config = ToyLMConfig(**fields)
    ToyLMBackend(config, num_runs=1)  # pretrain or load the warm start before timing
    rows = []
    print(f"toy LM {config.task} {config.num_digits}-digit, {config.n_layer} layers x {config.n_embd}, "
          f"{config.num_prompts} prompts x {config.group_size} responses per run, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    header = f"{'R':>5} {'ms/step':>9} " + " ".join(f"{m:>10}" for m in MOVES) + \
        f" {'steps/s':>8} {'run-steps/s':>12} {'tokens/s':>10}"
    print(header)
    for num_runs in args.runs:
        backend = ToyLMBackend(config, num_runs=num_runs)
        times = time_moves(backend, args.steps)
        row = {"num_runs": num_runs, "ms_per_step": 1e3 * times["total"],
               **{f"ms_{m}": 1e3 * times[m] for m in MOVES}, "steps_per_s": 1.0 / times["total"],
               "run_steps_per_s": num_runs / times["total"], "tokens_per_s": times["tokens"] / times["total"],
               "tokens_per_step": times["tokens"]}
        rows.append(row)
        print(f"{num_runs:>5} {row['ms_per_step']:>9.1f} " + " ".join(f"{row[f'ms_{m}']:>10.1f}" for m in MOVES)
              + f" {row['steps_per_s']:>8.2f} {row['run_steps_per_s']:>12.1f} {row['tokens_per_s']:>10.0f}")
    with open(args.json, "w") as handle:
        json.dump({"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "config": {k: getattr(config, k) for k in (
                       "task", "num_digits", "num_operands", "n_layer", "n_head", "n_embd", "num_prompts",
                       "group_size", "max_response_len")}, "steps": args.steps, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
