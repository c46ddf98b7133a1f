"""``entropic-demo``: tune a PI entropy controller on the softmax bandit in a few minutes, then report.

A small Optuna study (SQLite in the output directory) of the PI gains of the entropy bonus, with
the preset gains and the published defaults (DAPO, Skywork-OR1, EntroPIC) as its first trials;
then the best controller and the defaults run again on held-out seeds, and ``report.md`` shows
them side by side. The report's path is printed last. Re-running resumes the study.

Usage::

    entropic-demo                              # outputs/demo
    entropic-demo --out /tmp/demo tune.n_trials=100 trainer.steps=1000   # any entropic-tune override
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hydra import compose, initialize_config_module

from entropic.allocator import retain_freed_memory
from entropic.tuning.study.cli import run_study

DEMO = [
    "trainer.steps=600",          # the standard bandit (configs/backend/bandit.yaml), 600 GRPO steps a run
    "tune.study_name=demo",
    "tune.n_trials=60",           # 4 warm-start trials + 56 searched
    "tune.batch_size=20",         # 20 trials x 3 seeds = 60 runs simulated together
    "tune.seeds=3",
    "tune.heldout_seeds=5",
    "tune.report_every=100",
    "tune.target_entropy=1.0",
]
"""The demo's overrides of ``configs/tune/default.yaml`` (a few minutes on a 2-core CPU)."""


def main(argv: list[str] | None = None) -> None:
    """Run the demo study; print the report's path last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/demo", help="output directory (default outputs/demo)")
    parser.add_argument("overrides", nargs="*", help="entropic-tune overrides, e.g. tune.n_trials=100")
    args = parser.parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="tune/default", overrides=DEMO + list(args.overrides))
    summary = run_study(cfg, Path(args.out))
    heldout = summary.get("heldout", {}).get("values", {})
    for name, values in heldout.items():
        logging.getLogger(__name__).info("held-out %-10s %s", name,
                                         ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
    print(Path(summary.get("report", Path(args.out) / "report.md")).resolve())  # noqa: T201


if __name__ == "__main__":
    main()
