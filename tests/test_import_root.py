"""One import root: every module of the ``entropic`` tree imports under one name, and registers once.

``pyproject.toml`` maps the top-level folders ``bandits/``, ``llm/``, ``tuning/`` and ``configs/``
onto ``entropic.sims``, ``entropic.llm``, ``entropic.tuning`` and ``entropic.configs``. The
editable install resolves the mapped names with a finder rather than a path, so ``pkgutil`` is
walked from every mapped package (in a wheel they sit under ``entropic/`` and the walks overlap).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
import tomllib
from collections import Counter
from pathlib import Path

import gymnasium as gym
import pytest

from entropic.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]
FOLDER_NAMES = ("bandits", "tuning", "configs", "llm")
MAPPED = ("entropic.sims", "entropic.llm", "entropic.tuning")


def _walk(package: str) -> list[str]:
    """``package`` and the dotted names of every module and sub-package below it (imports them)."""
    module = importlib.import_module(package)
    errors: list[str] = []
    names = [package] + [info.name for info in pkgutil.walk_packages(module.__path__, f"{package}.", errors.append)]
    assert not errors, f"sub-packages that failed to import: {errors}"
    return names


@pytest.fixture(scope="module")
def modules() -> list[str]:
    """Every module of the installed tree, imported."""
    names = sorted({name for package in PACKAGE_DIR for name in _walk(package)})
    for name in names:
        importlib.import_module(name)
    return names


def test_mapped_packages_are_listed() -> None:
    # A folder with __init__.py that the package list misses works in the editable install
    # but is left out of the wheel.
    found = {package + "".join(f".{part}" for part in init.parent.relative_to(ROOT / folder).parts)
             for package, folder in PACKAGE_DIR.items() for init in (ROOT / folder).rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == found


def test_no_folder_name_is_importable_as_a_top_level_module(modules: list[str]) -> None:
    assert {"entropic.sims", "entropic.sims.toy_lm", "entropic.tuning", "entropic.configs"} <= set(modules)
    assert not sorted(name for name in sys.modules if name.split(".")[0] in FOLDER_NAMES)


def test_every_file_is_one_module(modules: list[str]) -> None:
    roots = tuple(Path(importlib.import_module(package).__file__).resolve().parent for package in PACKAGE_DIR)
    names_of: dict[Path, list[str]] = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path is not None and any(Path(path).resolve().is_relative_to(root) for root in roots):
            names_of.setdefault(Path(path).resolve(), []).append(name)
    assert {path: names for path, names in names_of.items() if len(names) > 1} == {}


def test_registries_hold_each_name_once(modules: list[str]) -> None:
    registries = {id(value): value for name in modules for value in vars(sys.modules[name]).values()
                  if isinstance(value, Registry)}
    kinds = Counter(registry.kind for registry in registries.values())
    assert kinds and max(kinds.values()) == 1, f"a registry exists twice: {kinds}"
    for registry in registries.values():
        assert max(Counter(registry).values()) == 1, registry.kind
    tuning_targets = importlib.import_module("entropic.tuning.study.targets").TARGETS
    assert all(target.name == name for name, target in tuning_targets.items())
    envs = {env_id: spec.entry_point for env_id, spec in gym.registry.items() if env_id.startswith("entropic/")}
    assert envs == {"entropic/SoftmaxBandit-v0": "entropic.sims.gym_env:SoftmaxBanditEnv",
                    "entropic/ToyLM-v0": "entropic.sims.toy_lm.gym_env:ToyLMEnv"}


def test_core_imports_no_mapped_package() -> None:
    # The one-way dependency rule: the core folder imports none of the simulators, llm or tuning.
    offending = []
    for path in sorted((ROOT / "entropic").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            offending += [f"{path.relative_to(ROOT)}: {target}" for target in targets
                          if target.startswith(MAPPED) or target.split(".")[0] in FOLDER_NAMES]
    assert offending == []
