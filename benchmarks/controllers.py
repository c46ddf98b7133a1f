"""Where each entropy actuator holds its target on the default bandit, and where it saturates.

Usage: ``python benchmarks/controllers.py [--steps 1000 --json benchmarks/controllers.json]``.

Runs the controller experiments of ``configs/experiment/`` (5 seeds each, vectorised) and prints, per
experiment: final entropy, the largest relative deviation from the 1.5-nat target from step 200 on,
how many seeds stayed within +-10%, the lowest entropy after the first crossing (the transient
undershoot) and from step 200 on (Skywork's lower band is 0.9 x target), the share of flat
(all-correct or all-wrong) groups at the end, and final pass@1.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_module

from entropic.allocator import retain_freed_memory
from entropic.experiment import build_trainer
from entropic.metrics.tracking import max_relative_error, min_after_crossing, within_band
from entropic.run_log import read_metric

EXPERIMENTS = ("grpo_uncontrolled_bandit", "pi_entropy_coeff_bandit", "skywork_bandit", "entropic_pi_bandit",
               "entropic_pi_noisy_bandit")
TARGET, SETTLE = 1.5, 200


def run(experiment: str, steps: int, output: Path) -> dict:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}", f"trainer.steps={steps}",
                                                       "trainer.tensorboard=false"])
    start = time.perf_counter()
    build_trainer(cfg, output).fit(progress=False)
    entropy = read_metric(output, "entropy/mean")
    return {
        "experiment": experiment, "seeds": entropy.shape[1], "seconds": time.perf_counter() - start,
        "final_entropy": entropy[-1].tolist(),
        "max_rel_dev_after_200": max_relative_error(entropy, TARGET, SETTLE).tolist(),
        "seeds_within_10pct": int(within_band(entropy, TARGET, SETTLE).sum()),
        "min_after_crossing": min_after_crossing(entropy, TARGET).tolist(),
        "min_after_200": entropy[SETTLE:].amin(0).tolist(),
        "flat_group_frac_end": read_metric(output, "reward/flat_group_frac")[-100:].mean(0).tolist(),
        "final_pass@1": read_metric(output, "eval/pass@1")[-1].tolist(),
    }


def main() -> None:
    retain_freed_memory()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--json", default="benchmarks/controllers.json")
    args = parser.parse_args()
    rows = []
    print(f"{'experiment':26s} {'H final':>8s} {'max dev':>8s} {'in +-10%':>9s} {'min after x':>12s} "
          f"{'min from 200':>13s} {'flat groups':>12s} {'pass@1':>7s} {'s':>6s}")
    with tempfile.TemporaryDirectory() as scratch:
        for experiment in EXPERIMENTS:
            row = run(experiment, args.steps, Path(scratch) / experiment)
            rows.append(row)
            keys = ("final_entropy", "max_rel_dev_after_200", "min_after_crossing", "min_after_200",
                    "flat_group_frac_end", "final_pass@1")
            mean = {key: sum(row[key]) / len(row[key]) for key in keys}
            print(f"{experiment:26s} {mean['final_entropy']:8.3f} {mean['max_rel_dev_after_200']:8.3f} "
                  f"{row['seeds_within_10pct']:>5d}/{row['seeds']:<3d} {mean['min_after_crossing']:12.3f} "
                  f"{mean['min_after_200']:13.3f} "
                  f"{mean['flat_group_frac_end']:12.3f} {mean['final_pass@1']:7.3f} {row['seconds']:6.0f}")
    Path(args.json).write_text(json.dumps({"target": TARGET, "settle_step": SETTLE, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
