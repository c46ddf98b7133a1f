"""The wheel installs one import root, ``entropic``, and ``entropic-train`` runs from it alone.

The wheel is built from a copy of the source folders (a build in the checkout would reuse a stale
``build/``), installed with ``--no-deps --no-index`` into a fresh venv that sees this venv's
dependencies through a plain path line in a ``.pth`` file: the path joins ``sys.path`` but the
``.pth`` files inside it, the editable install's finder among them, are not processed. Nothing
is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("entropic", "bandits", "llm", "tuning", "configs", "pyproject.toml", "README.md")
FOLDER_NAMES = {"llm", "configs", "tuning", "bandits"}


def _run(*args: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_installs_one_import_root(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    source = tmp_path / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    built = _run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                 "-w", tmp_path / "dist", cwd=source, env=env)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("entropic_rl-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp_path, env=env).stdout.strip())
    deps = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (purelib / "dependencies.pth").write_text("".join(f"{path}\n" for path in deps))
    installed = _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "work"
    work.mkdir()
    trained = _run(venv / "bin" / "entropic-train", "trainer.steps=5", f"hydra.run.dir={tmp_path / 'run'}",
                   cwd=work, env=env)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "summary.json").is_file()

    assert not {path.name.removesuffix(".py") for path in purelib.iterdir()} & FOLDER_NAMES
    where = _run(python, "-c", "import entropic.sims, entropic.configs; print(entropic.sims.__file__)",
                 cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(purelib / "entropic"), where.stderr
    missing = _run(python, "-c", "import llm", cwd=work, env=env)
    assert missing.returncode != 0 and "ModuleNotFoundError" in missing.stderr
