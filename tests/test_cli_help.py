"""Each Hydra app's ``--help`` is its own: usage, examples and the presets it can use, read from the config tree."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files

import pytest

APPS = {"entropic-train": ("entropic.cli.train", ("backend", "method", "advantage", "controller", "experiment")),
        "entropic-tune": ("entropic.tuning.study.cli", ("tune", "backend", "method", "controller")),
        "entropic-design": ("entropic.tuning.design.cli", ("backend", "method"))}


@pytest.mark.parametrize("app", sorted(APPS))
def test_help_shows_usage_examples_and_every_preset(app: str) -> None:
    module, groups = APPS[app]
    result = subprocess.run([sys.executable, "-c", f"from {module} import main; main()", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(f"{app}: ") and "Usage:" in text and "Examples:" in text
    assert "powered by Hydra" not in text
    for group in groups:
        names = sorted(p.name[:-5] for p in files("entropic.configs").joinpath(group).iterdir()
                       if p.name.endswith(".yaml"))
        assert ", ".join(names) in text, group
    if app == "entropic-train":
        assert "design:" not in text and "tune:" not in text  # other apps' groups
