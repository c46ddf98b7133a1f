"""``entropic-transfer`` end to end on a tiny budget: bandit -> toy LM, every mapping and cost checked by hand."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

from entropic.tuning.transfer.cli import transfer
from entropic.tuning.transfer import ladder
from entropic.tuning.transfer.ladder import run_ladder

TINY_TOY_LM = ["backend.num_digits=1", "backend.n_layer=2", "backend.n_head=2", "backend.n_embd=32",
               "backend.init_accuracy=0.3", "backend.init_entropy=1.2", "backend.pretrain_steps=600",
               "backend.num_train_problems=512", "backend.num_eval_problems=32", "backend.eval_samples=4",
               "backend.num_prompts=4", "backend.group_size=4", "backend.lr=5e-4"]
"""A one-digit toy LM that warm-starts in seconds."""

LADDER = [
    "transfer.until=toy_lm", "transfer.heldout_seeds=2", "transfer.noise_rollouts=4",
    "transfer.candidates=[transferred,copied,design,tuned,dapo]",
    "transfer.rungs.0.steps=120",
    "transfer.rungs.0.tune={n_trials: 4, seeds: 1, batch_size: 4, report_every: 0}",
    "transfer.rungs.0.design.operating_point={grid: [0.01, 1.0], points: 5, steps: 200, window: 20}",
    "transfer.rungs.0.design.excitation={warmup: 20, steps: 80, train_runs: 2, held_out_runs: 1,"
    " held_out_steps: false}",
    "transfer.rungs.1.setpoint=1.0", "transfer.rungs.1.steps=30",
    "transfer.rungs.1.tune={n_trials: 2, seeds: 1, batch_size: 2, report_every: 0}",
    "transfer.rungs.1.design.operating_point={knob: 0.05}",
    "transfer.rungs.1.design.excitation={warmup: 5, steps: 25, amplitudes: [0.05], period: 5, train_runs: 2,"
    " held_out_runs: 1, held_out_steps: false}",
]


def _config(cache: Path, *overrides: str) -> DictConfig:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="transfer/default", overrides=[*LADDER, *overrides])
    extra = list(cfg.transfer.rungs[1].overrides)
    OmegaConf.update(cfg, "transfer.rungs.1.overrides", [*TINY_TOY_LM, f"backend.cache_dir={cache}", *extra])
    return cfg


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")  # the DAPO baseline, one update a batch
def test_the_ladder_carries_the_gains_by_the_plant_ratios_and_scores_every_candidate(tmp_path: Path) -> None:
    out = tmp_path / "ladder"
    report = transfer(_config(tmp_path / "cache"), out, "entropic-transfer (test)")

    summary = json.loads((out / "transfer.json").read_text())
    source, target = summary["rungs"]
    # the gains, carried by hand from the two identified plants (first-order: gain and time-constant ratios)
    k_s, tau_s = source["process_model"]["gain"], source["process_model"]["tau1"]
    k_t, tau_t = target["process_model"]["gain"], target["process_model"]["tau1"]
    law = summary["source_controller"]["law"]
    carried = yaml.safe_load((out / "toy_lm" / "controller" / "transferred.yaml").read_text())["law"]
    if math.isinf(tau_s) or math.isinf(tau_t):  # an integrating plant on either side: initial-rate ratio
        rate = (k_s if math.isinf(tau_s) else k_s / tau_s) / (k_t if math.isinf(tau_t) else k_t / tau_t)
        assert carried["kp"] == pytest.approx(law["kp"] * rate) and carried["ki"] == pytest.approx(law["ki"] * rate)
    else:
        assert carried["kp"] == pytest.approx(law["kp"] * k_s / k_t)
        assert carried["ki"] == pytest.approx(law["ki"] * (k_s / k_t) / (tau_t / tau_s))
    assert carried["setpoint"] == 1.0
    # the effort range scales as kp does, inside the rung's knob limits [-1, 1] around its knob 0.05
    ratio = carried["kp"] / law["kp"]
    assert (carried["output_min"], carried["output_max"]) == pytest.approx(
        (max(law["output_min"] * ratio, -1.05), min(law["output_max"] * ratio, 0.95)))
    copied = yaml.safe_load((out / "toy_lm" / "controller" / "copied.yaml").read_text())["law"]
    assert (copied["kp"], copied["ki"], copied["setpoint"]) == (law["kp"], law["ki"], 1.0)

    # costs: what each stage's own record says it spent
    stage = {name: json.loads((out / name / "stage.json").read_text())
             for name in ("bandit/tune", "bandit/design", "toy_lm/design", "toy_lm/tune")}
    costs = target["costs"]
    assert costs["copied"] == stage["bandit/tune"]["cpu_seconds"] > 0
    assert costs["transferred"] == pytest.approx(sum(stage[n]["cpu_seconds"] for n in ("bandit/tune", "bandit/design",
                                                                                          "toy_lm/design")))
    assert costs["design"] == stage["toy_lm/design"]["cpu_seconds"]
    assert costs["tuned"] == stage["toy_lm/tune"]["cpu_seconds"] and costs["dapo"] == 0.0
    for name, score in target["scores"].items():  # every candidate ran on both held-out seeds
        assert score["error"] is None, name
        assert len(score["values"]["tracking_error"]) == 2 and len(score["entropy"]) == 30
        assert all(math.isfinite(v) for v in score["values"]["tracking_error"])
    assert target["noise_floor"] > 0 and source["noise_floor"] == 0.0  # the bandit's batch entropy is exact

    text = report.read_text()
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (report.parent / image).is_file(), image
    assert "| transferred |" in text and "| tuned |" in text

    # a second run in the same directory re-uses every finished stage: the same summary, no stage redone
    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("stage.json")}
    again = run_ladder(_config(tmp_path / "cache"), out)
    assert again["rungs"][1]["scores"] == target["scores"]
    assert {path: path.stat().st_mtime_ns for path in out.rglob("stage.json")} == stamps
    with pytest.raises(ValueError, match="another transfer setup"):  # a directory belongs to one setup
        run_ladder(_config(tmp_path / "cache", "transfer.heldout_seeds=3"), out)


@pytest.mark.parametrize(("override", "message"), [
    ("transfer.until=nowhere", "transfer.until='nowhere'"),
    ("transfer.setpoint_mode=relative", "leave the targets' setpoint null"),
    ("transfer.candidates=[transferred,best]", "allowed values"),
    ("transfer.rungs.0.tune.n_trials=0", "transfer.rungs[0].tune.n_trials"),
    ("transfer.controller=pi_missing", "unknown controller preset 'pi_missing'"),
    ("transfer.controller=skywork_or1", "law.name='skywork_adaptive'"),
    ("transfer.rungs.1.overrides=['+control.clip_ratio_low=1.5']", "control.clip_ratio_low"),
    ("transfer.rungs.1.backend=toy", "transfer.rungs[toy_lm] (backend=toy"),
    ("transfer.rungs.1.steps=5", "steps must be >= 10"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        run_ladder(_config(tmp_path / "cache", override), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_integrating_plant_read_back_from_its_stage_record_keeps_its_infinite_time_constant() -> None:
    from entropic.tuning.transfer.ladder import _process

    plant = _process({"process_model": {"gain": 0.031, "tau1": None, "theta": 3.5, "tau2": 0.0, "integrating": True}})
    assert plant.integrating and math.isinf(plant.tau1) and plant.gain == 0.031


def test_the_report_names_an_integrating_plant_by_its_rate() -> None:
    from entropic.tuning.transfer.report import _plant

    assert _plant({"gain": 0.031, "tau1": None, "theta": 3.5, "integrating": True}).startswith(
        "integrating, 0.031 nats per step per unit knob")
    assert "time constant 142.6 steps" in _plant({"gain": 4.355, "tau1": 142.6, "theta": 0.5, "integrating": False})


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
def test_a_rung_whose_identification_is_refused_scores_what_needs_no_plant(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = ladder.run_design

    def refuse_on_the_toy_lm(cfg: DictConfig, directory: Path) -> dict:
        if cfg.backend._target_.startswith("entropic.sims.toy_lm"):
            raise ValueError("the identified effect of the actuator on the sensor has the wrong sign (gain -1.74)")
        return real(cfg, directory)

    monkeypatch.setattr(ladder, "run_design", refuse_on_the_toy_lm)
    out = tmp_path / "ladder"
    cfg = _config(tmp_path / "cache", "transfer.controller=pi_entropy_coeff", "transfer.heldout_seeds=1",
                  "transfer.candidates=[transferred,copied,design,dapo]")
    report = transfer(cfg, out, "entropic-transfer (test)")

    target = json.loads((out / "transfer.json").read_text())["rungs"][1]
    assert "wrong sign" in target["identification_error"] and target["process_model"] is None
    assert set(target["scores"]) == {"copied", "dapo"}  # no plant: neither transferred nor designed
    assert all(score["error"] is None for score in target["scores"].values())
    assert (out / "toy_lm" / "controller" / "copied.yaml").is_file()
    assert not (out / "toy_lm" / "controller" / "transferred.yaml").exists()
    assert "Identification failed (the identified effect of the actuator" in report.read_text()
