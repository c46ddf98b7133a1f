"""Small real report directories: each tool's own Markdown writer fed hand-made results, PNGs beside them.

Each ``write_<kind>(root)`` writes ``root/<kind>/`` and returns it; the text holds :data:`SCRIPT` to test escaping.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import optuna

from entropic.laws.report import write_records
from entropic.tuning.design.report import write_report as design_report
from entropic.tuning.study.report import write_report as study_report
from entropic.tuning.study.targets import MethodScore, get_targets

SCRIPT = "<script>alert(1)</script>"
"""Put into report text: it must come out as text, never as a tag."""


def write_png(path: Path) -> Path:
    """A valid 1x1 grey PNG at ``path`` (stdlib only)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
                     + chunk(b"IEND", b""))
    return path


def write_study(root: Path) -> Path:
    """``entropic-tune``'s report of a 6-trial two-target study (one default), with held-out scores."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    targets = get_targets(["reward_auc", "final_reward"])
    study = optuna.create_study(study_name=f"demo {SCRIPT}", directions=["maximize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"kp": 0.5, "ki": 0.01}, user_attrs={"baseline": "EntroPIC"})
    study.optimize(lambda t: (t.suggest_float("kp", 0.0, 2.0), 1.0 - t.suggest_float("ki", 0.0, 0.1)), n_trials=6)
    score = MethodScore(values={"reward_auc": [0.5, 0.6], "final_reward": [0.7, 0.8]}, error=None,
                        reward=[0.1, 0.4, 0.6], entropy=[1.5, 1.2, 1.0])
    summary = {"seeds": [0, 1], "storage": "sqlite:///demo.db", "heldout": {"seeds": [100, 101]},
               "best": [{"number": t.number} for t in study.best_trials]}
    directory = root / "study"
    directory.mkdir()
    study_report(study, targets, {"best": score, "EntroPIC": score}, summary, directory, target_entropy=1.0)
    (directory / "tune_summary.json").write_text("{}")
    return directory


DESIGN_SUMMARY = {
    "backend": "bandit", "objective": "entropy_bonus", "convention": "u_k shows in y_(k+1); nk >= 1.",
    "design": {"rule": "simc", "actuator": "entropy_coeff", "sensor": "entropy/mean", "target": 1.5, "tau_c": 25.0,
               "excitation": {"warmup": 20, "steps": 40, "period": 5, "amplitudes": [0.1]}},
    "operating_point": {"knob": 0.38, "target": 1.5, "grid": [0.01, 10.0], "levels": [0.2, 2.4]},
    "identification": {"held_out_labels": ["prbs 2"], "best": "fopdt", "scores": {"fopdt": 0.6},
                       "scores_by_signal": {"fopdt": {"prbs": 0.6}},
                       "models": {"fopdt": {"nk": 1, "a": [-0.9], "b": [0.1], "c": 0.0,
                                            "params": {"k": 1.0, "tau": 9.5, "offset": 0.0}, "fit_nrmse": 0.5}}},
    "plant_tf": "0.1 / (z - 0.9)", "process_model_text": "k = 1, tau = 9.5",
    "rules": {"simc": {"settings": {"kc": 1.28, "tau_i": 95.0, "tau_d": 0.0},
                       "gains": {"kp": 1.28, "ki": 0.013, "kd": 0}, "margins": {"gm": 49.0, "pm": 85.0, "sm": 0.9},
                       "step_info": {"RiseTime": 30.0}, "poles": [0.95]},
              "zn": {"error": f"unstable | {SCRIPT}"}},
    "files": {"controller": "controller/designed.yaml"}, "usage": "entropic-train controller=designed",
    "warm_start": "entropic-tune tune.warm_start.design=[controller/designed.yaml]",
    "controller_yaml": "law:\n  kp: 1.28\n  ki: 0.013  # <b>not bold</b>\n",
}


def write_design(root: Path) -> Path:
    """``entropic-design``'s report of a hand-made summary (no validation), with the PNGs it names."""
    directory = root / "design"
    directory.mkdir()
    design_report(directory, DESIGN_SUMMARY)
    for name in ("identification", "bode", "step"):
        write_png(directory / f"{name}.png")
    return directory


def write_laws(root: Path) -> Path:
    """``entropic-laws``' report of one claim with two checks (a ``<br>`` cell, a ``|`` in a note) and a bar plot."""
    checks = [{"name": name, "statistic": f"share {SCRIPT}", "claim": "> 0.5", "outcome": "pass", "mean": 0.8,
               "ci": [0.7, 0.9], "n": 5, "level": 0.95, "values": [0.8] * 5, "note": "a | b"} for name in ("c1", "c2")]
    record = {"name": "quadrants", "title": "high-prob positive tokens drive the drop", "experiment": "laws_quadrants",
              "hypothesis": "H < H0", "verdict": "holds", "checks": checks, "info": {}, "notes": ["one note"],
              "arms": {}, "seconds": 1.0,
              "figures": [{"kind": "bars", "name": "quadrants_bars", "title": "by class",
                           "categories": {"a": {"mean": 1.0, "low": 0.5, "high": 1.5},
                                          "b": {"mean": -1.0, "low": -1.5, "high": -0.5}}}]}
    directory = root / "laws"
    write_records([record], directory, "entropic-laws --quick", quick=True)
    return directory


TRANSFER_MD = f"""# Transfer: bandit -> toy LM

Setpoint 0.5 nats; see [the config](controller/transferred.yaml) and [the paper](https://example.org/a_b).

| controller | tracking (nats) | noise floor | CPU-s |
|---|---|---|---|
| **transferred** | 0.040 | 0.045 | 3 |
| copied | 0.09 | 0.045 | 0 |
| tuned | 0.038 | 0.045 | 40 \\| 41 |

- kp: 1.28 -> 0.64
- {SCRIPT}

![ladder](ladder.png)
"""


def write_transfer(root: Path) -> Path:
    """A hand-written ``transfer.md`` with a table, a list, links and a PNG."""
    directory = root / "transfer"
    directory.mkdir()
    (directory / "transfer.md").write_text(TRANSFER_MD)
    (directory / "transfer.json").write_text("{}")
    write_png(directory / "ladder.png")
    return directory
