"""The best trial as ready configs for ``entropic-train`` (any backend).

``export_method`` writes, under ``<dir>``::

    controller/<name>.yaml   the controller (law, actuator, sensor): copy it to configs/controller/
    method/<name>.yaml       # @package _global_ preset: objective, advantage, control (and backend fields)
    <name>.yaml              a complete run config (backend, trainer, seed, and the above)

and returns the commands that run them: ``entropic-train --config-dir <dir> method=<name>
controller=<name>`` on any backend, or ``entropic-train --config-path <dir> --config-name <name>``
for the exact tuning setup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from entropic.tuning.study.batch import Method

HEADER = "# Exported by entropic-tune from study {study!r}, trial {trial} ({summary}).\n"


def _yaml(data: dict[str, Any]) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(data))


def export_method(method: Method, directory: str | Path, name: str, run: dict[str, Any], study: str, trial: int,
                  summary: str) -> dict[str, Any]:
    """Write ``method`` as config files under ``directory``.

    Parameters
    ----------
    method : Method
        The trial's method.
    directory : str or Path
        Output directory (created).
    name : str
        File stem of the presets (``tuned_<study>``).
    run : dict
        The study's run config (``backend``, ``trainer``, ``seed``) for the complete config.
    study : str
        Study name, for the header.
    trial : int
        Trial number, for the header.
    summary : str
        One line of values, for the header.

    Returns
    -------
    dict
        ``files`` (paths written) and ``commands`` (``entropic-train`` command lines).
    """
    directory = Path(directory).resolve()
    header = HEADER.format(study=study, trial=trial, summary=summary)
    files: dict[str, Path] = {}
    if method.controller is not None:
        files["controller"] = directory / "controller" / f"{name}.yaml"
        files["controller"].parent.mkdir(parents=True, exist_ok=True)
        files["controller"].write_text(header + _yaml(method.controller))
    overrides: dict[str, Any] = {"objective": method.objective, "advantage": method.advantage,
                                 "control": dict(method.control)}
    backend = {**method.backend, **({} if method.lr is None else {"lr": method.lr})}
    if backend:
        overrides["backend"] = backend
    if method.curriculum:
        overrides["trainer"] = {"curriculum": method.curriculum}
    files["method"] = directory / "method" / f"{name}.yaml"
    files["method"].parent.mkdir(parents=True, exist_ok=True)
    files["method"].write_text("# @package _global_\n" + header + _yaml(overrides))
    complete = {"defaults": ["run_schema", "_self_"], **method.run_config(run)}
    files["config"] = directory / f"{name}.yaml"
    files["config"].write_text(header + _yaml(complete))
    commands = [f"entropic-train --config-dir {directory} method={name}"
                + (f" controller={name}" if method.controller is not None else ""),
                f"entropic-train --config-path {directory} --config-name {name}"]
    return {"files": {k: str(v) for k, v in files.items()}, "commands": commands}
