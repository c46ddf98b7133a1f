"""``--help`` of the Hydra apps: each app's own text, with the presets read from the config tree.

The apps' help templates (``hydra.help.template`` in their root configs) list each config group's
presets through the ``entropic_presets`` resolver registered here, so the lists never go stale.
"""

from __future__ import annotations

from importlib.resources import files

from omegaconf import OmegaConf


def presets(group: str) -> str:
    """The preset names of config group ``group`` (``method``, ``controller``, ...), comma-separated."""
    folder = files("entropic.configs").joinpath(group)
    return ", ".join(sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml")))


if not OmegaConf.has_resolver("entropic_presets"):
    OmegaConf.register_new_resolver("entropic_presets", presets)
