"""Every claim's arms compose from the config tree, and verdicts are computed from the runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from entropic.experiment import validate
from entropic.laws.claims import CLAIMS, ablation, get_claim, run_claim
from entropic.laws.runner import compose_arm, hypothesis

ARMS = [(claim.name, arm) for claim in CLAIMS for arm in claim.arms]


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.experiment], ids=lambda c: c.name)
def test_every_experiment_states_its_hypothesis(claim) -> None:
    assert len(claim.hypothesis.split()) >= 15
    assert claim.experiment.startswith("laws_")


@pytest.mark.parametrize("claim_name, arm", ARMS, ids=[f"{c}-{a.name}" for c, a in ARMS])
def test_every_arm_composes_validates_and_splits_into_seeds(claim_name: str, arm) -> None:
    claim = get_claim(claim_name)
    for quick in (False, True):
        run = validate(compose_arm(arm.experiment or claim.experiment, [*arm.overrides, *(arm.quick if quick else ())]))
        assert run.num_runs % len(arm.variants) == 0
        assert run.num_runs // len(arm.variants) >= 5  # at least five seeds per variant
        if len(arm.variants) > 1:  # variants share their seeds: common random numbers
            seeds = run.run_seeds
            per = run.num_runs // len(arm.variants)
            assert all(seeds[i * per:(i + 1) * per] == seeds[:per] for i in range(len(arm.variants)))


def test_hypothesis_paragraph_stops_at_the_next_label() -> None:
    text = hypothesis("laws_quadrants")
    assert text.startswith("splitting the first-order entropy change") and "Setting" not in text


def test_ablation_overrides() -> None:
    assert ablation("control.x", (1, 2), seeds=2) == ("control.x=[1,1,2,2]", "num_runs=4", "run_seeds=[0,1,0,1]")


def test_unknown_claim_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="covariance_law"):
        get_claim("nope")


SHORT = ("trainer.steps=50", "trainer.eval_every=0")


def test_verdict_is_computed_from_the_runs_and_a_broken_setting_flips_it(tmp_path: Path) -> None:
    claim = get_claim("covariance_law")
    sound = run_claim(claim, tmp_path, extra=SHORT)
    assert sound.result.verdict == "holds"
    assert (tmp_path / "covariance_law" / "main" / "metrics.jsonl").exists()
    # Adam rescales every coordinate, so its logit step is not the policy-gradient step the law assumes
    broken = run_claim(claim, tmp_path, extra=(*SHORT, "backend.optimizer=adam"))
    assert broken.result.verdict == "does not hold"
    assert all(c.outcome == "fail" for c in broken.result.checks)


def test_reference_resets_are_judged_against_the_same_coefficient_without_them(tmp_path: Path) -> None:
    claim = get_claim("kl_penalty")
    sound = run_claim(claim, tmp_path, extra=("trainer.steps=150", "trainer.eval_every=0")).result
    assert {c.name: c.outcome for c in sound.checks}["reset_recovers_reward"] == "pass"
    # stopped before the first reset (step 100), the reset arm is the strongest coefficient's runs to the bit
    never = run_claim(claim, tmp_path, extra=("trainer.steps=60", "trainer.eval_every=0")).result
    recovered = next(c for c in never.checks if c.name == "reset_recovers_reward")
    assert recovered.estimate.values == (0.0,) * 5 and recovered.outcome == "fail"


def test_toy_lm_claims_are_pending_in_quick_mode_and_say_why(tmp_path: Path) -> None:
    result = run_claim(get_claim("dr_grpo_length"), tmp_path, quick=True).result
    assert result.verdict == "pending" and "toy LM" in result.checks[0].note
    assert all("full mode only" in note for note in result.notes)


def test_a_foreign_output_directory_is_never_emptied(tmp_path: Path) -> None:
    arm_dir = tmp_path / "nsr_prior" / "main"
    arm_dir.mkdir(parents=True)
    (arm_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an entropic-laws run"):
        run_claim(get_claim("nsr_prior"), tmp_path)
    assert (arm_dir / "notes.txt").exists()


def test_the_vapo_claim_reads_its_critic_and_judges_entropy_against_grpo(tmp_path: Path) -> None:
    result = run_claim(get_claim("vapo"), tmp_path, extra=("trainer.steps=40", "trainer.eval_every=0")).result
    assert [c.name for c in result.checks] == ["final_entropy_above_grpo", "entropy_in_band", "accuracy_kept"]
    assert all(len(c.estimate.values) == 5 for c in result.checks)  # one statistic per seed
    pretrained, (first, last) = result.info["critic_pretrain_value_loss"], result.info[
        "critic_value_loss_first_and_last_5%"]
    assert 0 < last < first and 0 < pretrained  # the critic learns while the policy improves
    assert result.info["first_1%_entropy"]["vapo"] == pytest.approx(2.5, abs=0.05)  # the prior's entropy
