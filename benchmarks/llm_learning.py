"""Learning on the tiny LLM: GRPO raises pass@1, and a PI law holds the token entropy where GRPO lets it fall.

Usage: ``python benchmarks/llm_learning.py [--seeds 0 1 2 3 4 --jobs 2 --json benchmarks/llm_learning.json]``.

Runs ``experiment=llm_grpo`` and ``experiment=llm_pi_entropy`` (``configs/experiment/``) once per seed,
each in its own process (the LLM backend trains one run per process), and reports per seed:

- GRPO: held-out pass@1 of the warm start (evaluated before any update) and at the end, and the mean
  batch token entropy over the first and the last 50 steps;
- PI: the mean of the batch entropy over the second half of the run and its mean absolute deviation
  (MAD) from the setpoint, beside the noise floor of the batch entropy: its standard deviation over 50
  rollouts at the run's final policy, without updates (:func:`entropic.tuning.sysid.noise.entropy_noise_floor`).

A seed passes GRPO when pass@1 rises by at least 0.15 and the entropy falls; PI when the mean lies
within 5% of the setpoint and the MAD is at most 1.5x the noise floor. Writes the rows and the counts
as JSON; ``tests/llm/test_learning.py`` (slow) asserts the counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from entropic.checkpoint import load_latest_checkpoint
from entropic.cli.train import train
from entropic.tuning.sysid.noise import entropy_noise_floor

NOISE_ROLLOUTS = 50
EDGE_STEPS = 50
"""Steps averaged for the entropy at the start and at the end of a GRPO run."""


def _compose(experiment: str, seed: int):
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="train", overrides=[f"experiment={experiment}", f"seed={seed}",
                                                       "trainer.tensorboard=false"])


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def grpo_row(seed: int, directory: Path) -> dict[str, Any]:
    """One GRPO run: pass@1 before and after, entropy at the start and the end."""
    torch.set_num_threads(1)
    cfg = _compose("llm_grpo", seed)
    before = instantiate(cfg.backend, num_runs=1, seeds=[seed]).evaluate()["eval/pass@1"]
    summary = train(cfg, directory / f"grpo_{seed}")
    rows = _metrics(directory / f"grpo_{seed}")
    return {"seed": seed, "pass@1_warm_start": float(before), "pass@1_final": summary["final"]["eval/pass@1"],
            "entropy_start": statistics.mean(r["entropy/mean"] for r in rows[:EDGE_STEPS]),
            "entropy_end": statistics.mean(r["entropy/mean"] for r in rows[-EDGE_STEPS:]),
            "seconds": summary["wall_time_s"]}


def pi_row(seed: int, directory: Path) -> dict[str, Any]:
    """One PI run: tracking over the second half, and the noise floor at the final policy."""
    torch.set_num_threads(1)
    cfg = _compose("llm_pi_entropy", seed)
    run_dir = directory / f"pi_{seed}"
    summary = train(cfg, run_dir)
    setpoint = float(cfg.controller.law.setpoint)
    rows = _metrics(run_dir)
    half = [r["entropy/mean"] for r in rows[len(rows) // 2:]]
    backend = instantiate(cfg.backend, num_runs=1, seeds=[seed])
    backend.load_state_dict(load_latest_checkpoint(run_dir / "checkpoints")["backend"])
    return {"seed": seed, "setpoint": setpoint, "entropy_mean": statistics.mean(half),
            "mad": statistics.mean(abs(h - setpoint) for h in half),
            "noise_floor": float(entropy_noise_floor(backend, NOISE_ROLLOUTS)),
            "pass@1_final": summary["final"]["eval/pass@1"], "seconds": summary["wall_time_s"]}


def verdicts(grpo: list[dict[str, Any]], pi: list[dict[str, Any]]) -> dict[str, Any]:
    """Which seeds meet each claim, and the setpoint's margin over where GRPO ends."""
    for row in grpo:
        row["passes"] = row["pass@1_final"] - row["pass@1_warm_start"] >= 0.15 and \
            row["entropy_end"] < row["entropy_start"]
    for row in pi:
        row["relative_error"] = (row["entropy_mean"] - row["setpoint"]) / row["setpoint"]
        row["mad_over_noise"] = row["mad"] / row["noise_floor"]
        row["passes"] = abs(row["relative_error"]) <= 0.05 and row["mad_over_noise"] <= 1.5
    grpo_end = statistics.mean(row["entropy_end"] for row in grpo)
    return {"grpo_passes": sum(row["passes"] for row in grpo), "pi_passes": sum(row["passes"] for row in pi),
            "grpo_entropy_end": grpo_end, "setpoint_over_grpo_end": pi[0]["setpoint"] / grpo_end}


def run(seeds: list[int], jobs: int, directory: Path) -> dict[str, Any]:
    """Both experiments for every seed, ``jobs`` processes at a time (the warm start is made, or loaded, first)."""
    instantiate(_compose("llm_grpo", seeds[0]).backend, num_runs=1, seeds=seeds[:1])
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        grpo = list(pool.map(grpo_row, seeds, [directory] * len(seeds)))
        pi = list(pool.map(pi_row, seeds, [directory] * len(seeds)))
    return {"grpo": grpo, "pi": pi, **verdicts(grpo, pi)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    parser.add_argument("--json", default="benchmarks/llm_learning.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        result = run(args.seeds, args.jobs, Path(directory))
    print(f"{'seed':>4} {'pass@1 warm':>11} {'pass@1 end':>10} {'H start':>8} {'H end':>7}   "
          f"{'H mean':>7} {'rel err':>8} {'MAD':>6} {'noise':>6} {'MAD/noise':>9}")
    for g, p in zip(result["grpo"], result["pi"], strict=True):
        print(f"{g['seed']:>4} {g['pass@1_warm_start']:>11.3f} {g['pass@1_final']:>10.3f} {g['entropy_start']:>8.3f} "
              f"{g['entropy_end']:>7.3f}   {p['entropy_mean']:>7.3f} {p['relative_error']:>+8.1%} {p['mad']:>6.3f} "
              f"{p['noise_floor']:>6.3f} {p['mad_over_noise']:>9.2f}")
    print(f"GRPO: {result['grpo_passes']}/{len(args.seeds)} seeds gain >= 0.15 pass@1 with falling entropy; "
          f"PI at {result['pi'][0]['setpoint']} nats ({result['setpoint_over_grpo_end']:.2f}x GRPO's final "
          f"{result['grpo_entropy_end']:.3f}): {result['pi_passes']}/{len(args.seeds)} seeds hold it")
    Path(args.json).write_text(json.dumps({"torch": torch.__version__, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
