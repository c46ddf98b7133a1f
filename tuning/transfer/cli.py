"""``entropic-transfer``: the ladder bandit -> toy LM -> LLM backend, with its report.

Examples::

    entropic-transfer                                  # every rung of configs/transfer/default.yaml
    entropic-transfer transfer.until=toy_lm            # stop after the toy LM
    entropic-transfer transfer.controller=<dir>/best/controller/tuned_pi_entropy_coeff.yaml

The output directory (Hydra's run directory, printed last) holds one directory per rung,
``transfer.json``, ``transfer.md`` and ``entropy.png``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tqdm import tqdm

from entropic.cli import help as _help  # noqa: F401  (registers the help templates' resolver)
from entropic.tuning.transfer.ladder import run_ladder, validated
from entropic.tuning.transfer.report import write_report

log = logging.getLogger(__name__)


def transfer(cfg: DictConfig, output_dir: str | Path, command: str) -> Path:
    """Run the ladder in ``output_dir`` with a progress bar over its stages; returns ``transfer.md``'s path."""
    settings = validated(cfg)
    rungs = settings.rungs
    tuned = [settings.controller is None] + [rung.trials > 0 and "tuned" in settings.candidates for rung in rungs[1:]]
    stages = 3 * len(rungs) + sum(tuned)
    with tqdm(total=stages, desc="transfer", unit="stage", file=sys.stderr) as bar:
        def progress(stage: str) -> None:
            if bar.desc != "transfer":
                bar.update()
            bar.set_description(stage)

        summary = run_ladder(cfg, output_dir, progress)
        bar.update()
    return write_report(summary, output_dir, command)


@hydra.main(version_base="1.3", config_path="pkg://entropic.configs", config_name="transfer/default")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: run the ladder in Hydra's output directory and print that directory last."""
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        report = transfer(cfg, output_dir, " ".join(["entropic-transfer", *sys.argv[1:]]))
    except ValueError as error:
        log.error("%s", error)
        raise SystemExit(1) from error
    log.info("report: %s", report)
    print(output_dir)  # noqa: T201  (the CLI's result: where the ladder went)
