"""``entropic-train``: train any backend with any objective and controller from the Hydra config tree.

Examples::

    entropic-train backend=bandit method=dapo trainer.steps=500
    entropic-train -m method=grpo,dapo,clip_cov,kl_cov seed=0,1,2
    entropic-train resume=outputs/2026-01-01/12-00-00      # continue a killed run
    entropic-train resume=outputs/2026-01-01/12-00-00 trainer.steps=1000   # extend a run

A resumed run keeps its saved config: the only override it takes is ``trainer.steps`` (to extend
it); any other override that changes a value is refused, naming it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from entropic.allocator import retain_freed_memory
from entropic.cli import help as _help  # noqa: F401  (registers the help templates' resolver)
from entropic.experiment import build_trainer, load_run_config
from entropic.loop import Diverged

log = logging.getLogger(__name__)

HEADLINE = ("reward/mean", "eval/pass@1", "entropy/mean", "eval/entropy")


RUN_FILES = ("metrics.jsonl", "checkpoints", "summary.json")
"""What makes a directory hold a run (Hydra's own ``.hydra/`` and log are written first and do not count)."""

RESUME_OVERRIDES = ("trainer.steps",)
"""The settings a resumed run may change: they extend a run without changing its trajectory."""


def train(cfg: DictConfig, output_dir: str | Path, overrides: Sequence[str] = ()) -> dict:
    """Build and run one training job in ``output_dir``; resume when ``cfg.resume`` names a run.

    A new run refuses a directory that already holds one, before writing anything. ``overrides``
    are the command line's ``key=value`` overrides: a resumed run takes only those of
    :data:`RESUME_OVERRIDES` and refuses any other that changes a saved value.
    """
    if cfg.get("resume"):
        output_dir = Path(cfg.resume)
        saved = output_dir / "config.yaml"
        if not saved.exists():
            raise ValueError(f"resume={cfg.resume!r}: no config.yaml there (not an entropic-train output dir)")
        given, cfg = cfg, load_run_config(saved)
        cfg.resume = None
        changed = []
        for key in _override_keys(overrides):
            value = OmegaConf.select(given, key)
            if key in RESUME_OVERRIDES:
                OmegaConf.update(cfg, key, value)
            elif value != OmegaConf.select(cfg, key):
                changed.append(f"{key}={value} (saved: {OmegaConf.select(cfg, key)})")
        if changed:
            raise ValueError(f"resume={output_dir} continues the saved run; it refuses overrides that change its "
                             f"trajectory: {', '.join(changed)}; allowed: {list(RESUME_OVERRIDES)}")
        trainer = build_trainer(cfg, output_dir)
        trainer.resume()
        finished = output_dir / "summary.json"
        if trainer.step >= trainer.config.steps and finished.exists():
            log.info("the run in %s is complete at step %d; extend it with trainer.steps=N", output_dir, trainer.step)
            return json.loads(finished.read_text())
    else:
        held = [name for name in RUN_FILES if (Path(output_dir) / name).exists()]
        if held:
            raise ValueError(f"{output_dir} already holds a run ({', '.join(held)}): continue it with "
                             f"resume={output_dir}, or give this run another hydra.run.dir")
        trainer = build_trainer(cfg, output_dir)
    return trainer.fit(progress=sys.stderr.isatty())


@hydra.main(version_base="1.3", config_path="pkg://entropic.configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the final mean reward (for Hydra sweepers)."""
    retain_freed_memory()
    try:
        summary = train(cfg, HydraConfig.get().runtime.output_dir, HydraConfig.get().overrides.task)
    except (ValueError, Diverged, InstantiationException) as error:
        cause = error.__cause__ if isinstance(error, InstantiationException) and error.__cause__ else error
        log.error("%s", cause)
        raise SystemExit(1) from error
    headline = {name: summary["final"].get(name) for name in HEADLINE if name in summary["final"]}
    log.info("final: %s (summary.json has everything)", json.dumps(headline))
    return summary["final"].get("reward/mean")


def _override_keys(overrides: Sequence[str]) -> list[str]:
    """The config keys a command line sets (``key=value``, ``+key=value``), Hydra's and ``resume`` left out."""
    keys = [item.split("=", 1)[0].lstrip("+~") for item in overrides if "=" in item]
    return [key for key in keys if key != "resume" and not key.startswith("hydra.")]


if __name__ == "__main__":
    main()
