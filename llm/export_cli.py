"""``entropic-export``: an entropic config as the settings of a run in TRL or verl.

Examples::

    entropic-export --to verl outputs/tune/pi_entropy_coeff        # a study's best trial (best/<name>.yaml)
    entropic-export --to trl outputs/2026-01-01/12-00-00           # a run's config.yaml
    entropic-export --to verl my_config.yaml --out launch/verl

``--to verl`` writes ``verl_overrides.txt`` (Hydra overrides of ``verl.trainer.main_ppo``) and ``run_verl.sh``
(a launch script: set MODEL, TRAIN_FILES, VAL_FILES); ``--to trl`` writes ``trl_grpo_config.json``
(``GRPOConfig`` keyword arguments) and ``train_trl.py`` (the adapter's usage). A method the engine cannot
run is refused with the reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def resolve_config(path: str | Path) -> Path:
    """The entropic config at ``path``: the file itself, a run directory's ``config.yaml``, a study directory's
    ``best/<name>.yaml``, or the one YAML file of an export directory."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ValueError(f"config path {str(path)!r} does not exist")
    if (path / "config.yaml").is_file():
        return path / "config.yaml"
    for folder in (path / "best", path):
        candidates = sorted(folder.glob("*.yaml"))
        if len(candidates) == 1:
            return candidates[0]
    raise ValueError(f"{str(path)!r} holds no single entropic config: expected config.yaml, best/<name>.yaml or one "
                     f"<name>.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="entropic-export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--to", required=True, choices=("trl", "verl"), help="the engine")
    parser.add_argument("config", help="a run config, a run directory or a study directory")
    parser.add_argument("--out", default=None, help="output directory (default: <config's folder>/<engine>)")
    args = parser.parse_args(argv)
    try:
        config = resolve_config(args.config)
        out = Path(args.out) if args.out else config.parent / args.to
        if args.to == "verl":
            from entropic.llm.verl.export import export_verl as export
        else:
            from entropic.llm.trl_export import export_trl as export
        files = export(config, out)
    except ValueError as error:
        parser.exit(2, f"entropic-export: {error}\n")
    for path in files.values():
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
