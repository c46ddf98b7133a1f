"""``entropic-demo``: the whole story on embedded defaults, in minutes on a 2-core CPU, as one HTML report.

1. **Tune** PI gains of the entropy bonus on the softmax bandit: a small Optuna study (SQLite in
   ``<out>/study``) with the preset gains and the published defaults (DAPO, Skywork-OR1, EntroPIC) as
   its first trials; the best controller and the defaults run again on held-out seeds.
2. **Transfer** the best controller to the toy LM and to the tiny transformers model
   (``entropic-transfer`` with small budgets, in ``<out>/transfer``): each rung's plant is identified,
   the gains are carried by the ratio of the plants, and the carried controller runs on held-out seeds
   beside the same gains copied unchanged and DAPO. No study is made on those rungs: measuring how
   close transfer comes to direct tuning is the full ladder's job (README, Transfer).
3. **Report**: ``<out>/report.html`` (``entropic-report``) holds both; its path is printed last.

Re-running with the same ``--out`` resumes: the study continues and finished transfer stages are kept.

Usage::

    entropic-demo                                        # outputs/demo
    entropic-demo --out /tmp/demo tune.n_trials=100 trainer.steps=1000     # any entropic-tune override
    entropic-demo transfer.until=toy_lm transfer.heldout_seeds=5           # any entropic-transfer override
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_module

from entropic.allocator import retain_freed_memory
from entropic.tuning.report import build_report
from entropic.tuning.study.cli import run_study
from entropic.tuning.transfer.cli import transfer

STUDY = [
    "trainer.steps=600",          # the standard bandit (configs/backend/bandit.yaml), 600 GRPO steps a run
    "tune.study_name=demo",
    "tune.n_trials=60",           # 4 warm-start trials + 56 searched
    "tune.batch_size=20",         # 20 trials x 3 seeds = 60 runs simulated together
    "tune.seeds=3",
    "tune.heldout_seeds=5",
    "tune.report_every=100",
    "tune.target_entropy=1.0",
]
"""The demo's overrides of ``configs/tune/default.yaml``."""

TRANSFER = [
    "transfer.heldout_seeds=3",
    "transfer.noise_rollouts=10",
    "transfer.candidates=[transferred,copied,dapo]",
    "transfer.rungs.0.setpoint=1.0",     # the study's target entropy
    "transfer.rungs.0.tune.n_trials=0",  # the source controller is the study's best
    "transfer.rungs.1.steps=300",
    "transfer.rungs.1.tune.n_trials=0",
    "transfer.rungs.1.design.operating_point={grid: [0.02, 0.4], points: 6, steps: 120, window: 30}",
    "transfer.rungs.1.design.excitation={warmup: 60, steps: 150, amplitudes: [0.05], period: 10, train_runs: 3,"
    " held_out_runs: 1, held_out_steps: false}",
    "transfer.rungs.2.steps=80",
    "transfer.rungs.2.design.operating_point={grid: [0.02, 0.3], points: 3, steps: 40, window: 10}",
    "transfer.rungs.2.design.excitation={warmup: 20, steps: 120, amplitudes: [0.1], period: 6, train_runs: 2,"
    " held_out_runs: 1, held_out_steps: false}",
]
"""The demo's overrides of ``configs/transfer/default.yaml`` (no direct tuning on the targets)."""


def main(argv: list[str] | None = None) -> None:
    """Tune, transfer, report; print the report's path last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/demo", help="output directory (default outputs/demo)")
    parser.add_argument("overrides", nargs="*", help="entropic-tune overrides (tune.n_trials=100) and "
                                                     "entropic-transfer ones (transfer.until=toy_lm)")
    args = parser.parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = Path(args.out)
    ours = [o for o in args.overrides if o.lstrip("+~").startswith("transfer.")]
    study_overrides = [o for o in args.overrides if o not in ours]
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        study_cfg = compose(config_name="tune/default", overrides=STUDY + study_overrides)
        run_study(study_cfg, out / "study")
        transfer_cfg = compose(config_name="transfer/default",  # the source controller: the study's best PI
                               overrides=[*TRANSFER, f"transfer.controller={(out / 'study').resolve()}", *ours])
        transfer(transfer_cfg, out / "transfer", " ".join(["entropic-demo", *(argv or sys.argv[1:])]))
    page = build_report([out / "study", out / "transfer"], out / "report.html", title="entropic demo")
    print(page.resolve())  # noqa: T201
