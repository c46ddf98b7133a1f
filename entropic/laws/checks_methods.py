"""Verdict rules of the claims of single published methods against GRPO (claims 15-22: SEED-GRPO, STEER, LUFFY,
Positive-Advantage Reweighting, DAPO's dynamic sampling against DAPO, BCPG-NSA; SENT's curriculum against SENT
without it; VAPO).

Same contract as :mod:`entropic.laws.checks_learning`: ``evaluate_*(runs) -> ClaimResult``. Each
claim runs GRPO and the method on the same seeds, so every statistic is a per-seed difference or
ratio. Thresholds are written next to the checks that use them.
"""

from __future__ import annotations

import numpy as np

from entropic.laws import figures
from entropic.laws.checks_learning import final_mean
from entropic.laws.percentiles import bucket_key
from entropic.laws.records import RunRecords
from entropic.laws.runner import ArmRun
from entropic.laws.verdict import ClaimResult, check

FIRST_HALF = 0.5
"""SEED-GRPO's conservatism is read over the first half of the run, while prompts are still uncertain."""
CERTAIN, UNCERTAIN = "laws/entropy/bucket0", "laws/entropy/bucket3"
"""Mean entropy of the batch's most certain and most uncertain quarter of prompts (laws sensors, 4 buckets)."""
TAIL_QUANTILE, BAND_QUANTILE = 0.95, 0.90
"""STEER: the large changes are the 95th percentile of |dH|; the band is GRPO's 90th percentile."""
SECOND_HALF = 0.5
"""LUFFY keeps entropy above GRPO's over the second half of the run, once GRPO's has collapsed."""
PAR_WEIGHTS = (1.0, 0.5, 0.25)
"""Positive-Advantage Reweighting's lambda (``control.pos_weight``) in the variants of its claim; 1 is GRPO."""
EVAL_ENTROPY = "eval/entropy"
"""Dynamic sampling is judged on the whole policy's exact entropy (evaluated every step), not the kept batch's."""
MATCHED_PASS = (0.5, 0.7, 0.9)
"""pass@1 levels at which dynamic sampling's entropy is compared with DAPO's (information, not a check)."""


def evaluate_seed_grpo(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 15: SEED-GRPO's updates are conservative on uncertain prompts, at a small reward cost."""
    grpo, seed = runs["grpo"].of("main"), runs["seed_grpo"].of("main")

    def kept(key: str) -> np.ndarray:
        """``[seeds]``: mean over the first half of ``key``, SEED-GRPO minus GRPO (nats)."""
        return seed.window(key, 0.0, FIRST_HALF) - grpo.window(key, 0.0, FIRST_HALF)

    result = ClaimResult(checks=[
        check("uncertain_prompts_keep_entropy", "first half of the run: mean entropy of the most uncertain quarter "
              "of prompts, SEED-GRPO minus GRPO (nats, same seeds)", kept(UNCERTAIN), ">", 0.0),
        check("conservatism_targets_uncertain_prompts", "first half: that difference minus the same difference for "
              "the most certain quarter (nats)", kept(UNCERTAIN) - kept(CERTAIN), ">", 0.0),
        check("reward_cost_small", "final reward (last 5% of the steps), SEED-GRPO minus GRPO",
              final_mean(seed, "reward/mean") - final_mean(grpo, "reward/mean"), ">", -0.05),
    ])
    result.info = {"entropy_kept_by_quartile": {f"quartile {i + 1}": float(np.nanmean(kept(f"laws/entropy/bucket{i}")))
                                                for i in range(4)},
                   "final_entropy_difference": float(np.nanmean(final_mean(seed) - final_mean(grpo))),
                   "pass@1_difference": float(np.nanmean(seed.final("eval/pass@1") - grpo.final("eval/pass@1"))),
                   "batch_pass@1_uncertain_quartile_first_half": {
                       name: float(np.nanmean(arm.window(bucket_key(1, 3), 0.0, FIRST_HALF)))
                       for name, arm in (("grpo", grpo), ("seed_grpo", seed))}}
    result.figures = [
        figures.bands("seed_grpo_uncertain_entropy", "Entropy of the most uncertain quarter of prompts",
                      "mean token entropy (nats)", {"GRPO": grpo, "SEED-GRPO": seed}, UNCERTAIN),
        figures.bands("seed_grpo_reward", "Reward: GRPO vs SEED-GRPO", "reward", {"GRPO": grpo, "SEED-GRPO": seed},
                      "reward/mean")]
    return result


def _quantile(changes: np.ndarray, q: float) -> np.ndarray:
    """``[R]``: the ``q`` quantile over steps of ``|dH|`` ``[S, R]`` (NaN steps skipped)."""
    return np.nanquantile(np.abs(changes), q, axis=0)


def evaluate_steer(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 16: STEER keeps the per-step entropy change in a band (its large changes shrink), still learning."""
    grpo, steer = runs["grpo"].of("main"), runs["steer"].of("main")
    grpo_dh, steer_dh = grpo["entropy/delta"], steer["entropy/delta"]  # [S, seeds]
    band = _quantile(grpo_dh, BAND_QUANTILE)  # [seeds]
    finite = np.isfinite(steer_dh)
    outside = (np.abs(np.where(finite, steer_dh, 0.0)) > band).sum(0) / finite.sum(0)
    result = ClaimResult(checks=[
        check("large_changes_shrink", f"{TAIL_QUANTILE:.0%} quantile over steps of |dH| per step, STEER / GRPO "
              "(same seed)", _quantile(steer_dh, TAIL_QUANTILE) / _quantile(grpo_dh, TAIL_QUANTILE), "<", 1.0),
        check("steps_outside_band", f"share of STEER's steps with |dH| above GRPO's {BAND_QUANTILE:.0%} quantile "
              "(same seed)", outside, "<", 1.0 - BAND_QUANTILE),
        check("keeps_learning", "final reward (last 5% of the steps), STEER minus GRPO",
              final_mean(steer, "reward/mean") - final_mean(grpo, "reward/mean"), ">", -0.05),
    ])
    result.info = {"max_abs_dH": {"grpo": float(np.nanmean(np.nanmax(np.abs(grpo_dh), 0))),
                                  "steer": float(np.nanmean(np.nanmax(np.abs(steer_dh), 0)))},
                   "median_abs_dH": {"grpo": float(np.nanmean(_quantile(grpo_dh, 0.5))),
                                     "steer": float(np.nanmean(_quantile(steer_dh, 0.5)))},
                   "mean_token_weight": float(np.nanmean(steer["actor/steer_weight_mean"])),
                   "final_entropy_difference": float(np.nanmean(final_mean(steer) - final_mean(grpo))),
                   "pass@1_difference": float(np.nanmean(steer.final("eval/pass@1") - grpo.final("eval/pass@1")))}
    result.figures = [
        figures.bands("steer_entropy_change", "Per-step entropy change: GRPO vs STEER", "dH per step (nats)",
                      {"GRPO": grpo, "STEER": steer}, "entropy/delta"),
        figures.bands("steer_entropy", "Entropy: GRPO vs STEER", "mean token entropy (nats)",
                      {"GRPO": grpo, "STEER": steer}, "entropy/mean")]
    return result


def evaluate_luffy(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 17: LUFFY's off-policy guidance keeps entropy above on-policy GRPO's, without losing accuracy."""
    grpo, luffy = runs["grpo"].of("main"), runs["luffy"].of("main")
    result = ClaimResult(checks=[
        check("entropy_above_grpo", "second half of the run: mean token entropy, LUFFY minus GRPO (nats, same seed)",
              luffy.window("entropy/mean", SECOND_HALF) - grpo.window("entropy/mean", SECOND_HALF), ">", 0.0),
        check("final_entropy_above_grpo", "last 5% of the steps: mean token entropy, LUFFY minus GRPO (nats)",
              final_mean(luffy) - final_mean(grpo), ">", 0.0),
        check("accuracy_kept", "final exact pass@1, LUFFY minus GRPO",
              luffy.final("eval/pass@1") - grpo.final("eval/pass@1"), ">", -0.05),
    ])
    result.info = {"final_entropy": {"grpo": float(np.nanmean(final_mean(grpo))),
                                     "luffy": float(np.nanmean(final_mean(luffy)))},
                   "final_pass@1": {"grpo": float(np.nanmean(grpo.final("eval/pass@1"))),
                                    "luffy": float(np.nanmean(luffy.final("eval/pass@1")))},
                   "correct_entropy_difference": float(np.nanmean(luffy.final("eval/correct_entropy")
                                                                  - grpo.final("eval/correct_entropy"))),
                   "pass@256_difference": float(np.nanmean(luffy.final("eval/pass@256")
                                                           - grpo.final("eval/pass@256"))),
                   "demonstration_token_prob_last_5%": float(np.nanmean(final_mean(luffy, "actor/off_policy_prob")))}
    result.figures = [
        figures.bands("luffy_entropy", "Entropy: on-policy GRPO vs LUFFY", "mean token entropy (nats)",
                      {"GRPO": grpo, "LUFFY": luffy}, "entropy/mean"),
        figures.bands("luffy_pass_at_1", "Exact pass@1: on-policy GRPO vs LUFFY", "pass@1",
                      {"GRPO": grpo, "LUFFY": luffy}, "eval/pass@1")]
    return result


def evaluate_par(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 18: down-weighting positive-advantage tokens keeps entropy higher, the more the smaller the weight."""
    arm = runs["main"]
    grpo, half, quarter = (arm.of(f"lambda={weight:g}") for weight in PAR_WEIGHTS)
    result = ClaimResult(checks=[
        check("reweighting_keeps_entropy", "last 5% of the steps: mean token entropy, lambda 0.5 minus lambda 1 "
              "(GRPO; nats, same seed)", final_mean(half) - final_mean(grpo), ">", 0.0),
        check("entropy_regulated_by_lambda", "the same, lambda 0.25 minus lambda 0.5 (nats)",
              final_mean(quarter) - final_mean(half), ">", 0.0),
        check("performance_competitive", "final exact pass@1, lambda 0.5 minus lambda 1",
              half.final("eval/pass@1") - grpo.final("eval/pass@1"), ">", -0.05),
    ])
    result.info = {"final_entropy": {f"lambda={w:g}": float(np.nanmean(final_mean(r)))
                                     for w, r in zip(PAR_WEIGHTS, (grpo, half, quarter), strict=True)},
                   "final_pass@1": {f"lambda={w:g}": float(np.nanmean(r.final("eval/pass@1")))
                                    for w, r in zip(PAR_WEIGHTS, (grpo, half, quarter), strict=True)},
                   "pass@256_difference_half": float(np.nanmean(half.final("eval/pass@256")
                                                                - grpo.final("eval/pass@256")))}
    result.figures = [figures.bands("par_entropy", "Entropy by the positive tokens' weight lambda",
                                    "mean token entropy (nats)",
                                    {f"lambda={w:g}": r for w, r in zip(PAR_WEIGHTS, (grpo, half, quarter),
                                                                        strict=True)}, "entropy/mean")]
    return result


def _entropy_steps(records: RunRecords) -> np.ndarray:
    """``[S - 1, R]``: the change of the policy's exact mean entropy from each evaluated step to the next (nats)."""
    return np.diff(records[EVAL_ENTROPY], axis=0)


def _entropy_at_pass(records: RunRecords, level: float) -> np.ndarray:
    """``[R]``: the policy's exact entropy at the first step whose exact pass@1 reaches ``level`` (NaN: never)."""
    entropy, success = records[EVAL_ENTROPY], records["eval/pass@1"]
    reached = success >= level  # [S, R]
    first = reached.argmax(0)
    return np.where(reached.any(0), entropy[first, np.arange(entropy.shape[1])], np.nan)


def evaluate_dynamic_sampling(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 19: DAPO's dynamic sampling keeps entropy stable next to plain DAPO, still learning."""
    dapo, dynamic = runs["dapo"].of("main"), runs["dynamic"].of("main")
    dapo_dh, dynamic_dh = _entropy_steps(dapo), _entropy_steps(dynamic)
    result = ClaimResult(checks=[
        check("entropy_kept_over_the_run", "mean over the run of the policy's exact entropy, dynamic sampling minus "
              "DAPO (nats, same seed)", dynamic.window(EVAL_ENTROPY, 0.0) - dapo.window(EVAL_ENTROPY, 0.0), ">",
              -0.05),
        check("entropy_steps_not_larger", f"{TAIL_QUANTILE:.0%} quantile over steps of the per-step change |dH| of "
              "that entropy, dynamic sampling / DAPO (same seed)",
              _quantile(dynamic_dh, TAIL_QUANTILE) / _quantile(dapo_dh, TAIL_QUANTILE), "<", 1.0),
        check("keeps_learning", "final exact pass@1 (last 5% of the steps), dynamic sampling minus DAPO",
              final_mean(dynamic, "eval/pass@1") - final_mean(dapo, "eval/pass@1"), ">", -0.05),
    ])
    arms = {"dapo": dapo, "dynamic": dynamic, **({"minirl": runs["minirl"].of("main")} if "minirl" in runs else {})}
    filtered = {name: arm for name, arm in arms.items() if "sampling/draws" in arm}

    def per_arm(of: dict[str, RunRecords], statistic) -> dict[str, float]:
        return {name: float(np.nanmean(statistic(arm))) for name, arm in of.items()}

    result.info = {
        "mean_entropy_over_the_run": per_arm(arms, lambda arm: arm.window(EVAL_ENTROPY, 0.0)),
        "final_entropy": per_arm(arms, lambda arm: final_mean(arm, EVAL_ENTROPY)),
        "final_pass@1": per_arm(arms, lambda arm: final_mean(arm, "eval/pass@1")),
        "dH_95th_percentile": per_arm(arms, lambda arm: _quantile(_entropy_steps(arm), TAIL_QUANTILE)),
        "mean_draws_per_step": per_arm(filtered, lambda arm: arm["sampling/draws"]),
        "mean_kept_fraction": per_arm(filtered, lambda arm: arm["sampling/kept_fraction"]),
        "share_of_steps_short": per_arm(filtered, lambda arm: arm["sampling/shortfall"] > 0),
        "entropy_at_matched_pass@1_minus_dapo": {
            f"pass@1={level:g}": per_arm(arms, lambda arm, level=level: _entropy_at_pass(arm, level)
                                         - _entropy_at_pass(dapo, level)) for level in MATCHED_PASS},
        "first_step_at_pass@1=0.9": per_arm(arms, lambda arm: (arm["eval/pass@1"] >= 0.9).argmax(0))}
    names = {"dapo": "DAPO", "dynamic": "DAPO + dynamic sampling", "minirl": "MiniRL accuracy range"}
    result.figures = [
        figures.bands("dynamic_sampling_entropy", "Policy entropy: DAPO with and without dynamic sampling",
                      "exact mean token entropy (nats)", {names[n]: arm for n, arm in arms.items()}, EVAL_ENTROPY),
        figures.bands("dynamic_sampling_pass_at_1", "Exact pass@1: DAPO with and without dynamic sampling", "pass@1",
                      {names[n]: arm for n, arm in arms.items()}, "eval/pass@1")]
    return result


def evaluate_nsa(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 20: BCPG-NSA's credit on the verified steps of wrong responses learns faster than GRPO (the paper's
    sample efficiency), keeps pass@1, and lowers the entropy faster (entropic's prediction)."""
    grpo, nsa = runs["grpo"].of("main"), runs["nsa"].of("main")
    result = ClaimResult(checks=[
        check("learns_faster", "mean training reward over the run, NSA minus GRPO (same seed)",
              nsa.window("reward/mean", 0.0) - grpo.window("reward/mean", 0.0), ">", 0.0),
        check("accuracy_kept", "final evaluated pass@1, NSA minus GRPO",
              nsa.final("eval/pass@1") - grpo.final("eval/pass@1"), ">", -0.05),
        check("entropy_below_grpo", "last 5% of the steps: mean token entropy, NSA minus GRPO (nats)",
              final_mean(nsa) - final_mean(grpo), "<", 0.0),
    ])
    result.info = {"mean_reward": {"grpo": float(np.nanmean(grpo.window("reward/mean", 0.0))),
                                   "nsa": float(np.nanmean(nsa.window("reward/mean", 0.0)))},
                   "final_entropy": {"grpo": float(np.nanmean(final_mean(grpo))),
                                     "nsa": float(np.nanmean(final_mean(nsa)))},
                   "final_pass@1": {"grpo": float(np.nanmean(grpo.final("eval/pass@1"))),
                                    "nsa": float(np.nanmean(nsa.final("eval/pass@1")))},
                   "pass@4_difference": float(np.nanmean(nsa.final("eval/pass@4") - grpo.final("eval/pass@4"))),
                   "credited_token_share_first_and_last_5%": [
                       float(np.nanmean(nsa.window("actor/nsa_credited_frac", 0.0, 0.05))),
                       float(np.nanmean(final_mean(nsa, "actor/nsa_credited_frac")))]}
    result.figures = [
        figures.bands("nsa_entropy", "Entropy: GRPO vs BCPG-NSA", "mean token entropy (nats)",
                      {"GRPO": grpo, "NSA": nsa}, "entropy/mean"),
        figures.bands("nsa_reward", "Training reward: GRPO vs BCPG-NSA", "mean reward",
                      {"GRPO": grpo, "NSA": nsa}, "reward/mean")]
    return result


def evaluate_sent(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 21: SENT's semantic-entropy curriculum slows the entropy collapse against the same method drawing every
    prompt, without losing accuracy (the exact entropy over all the prompts, ``eval/entropy``)."""
    flat, curriculum = runs["flat"].of("main"), runs["curriculum"].of("main")
    result = ClaimResult(checks=[
        check("collapse_slower", "first half of the run: exact mean token entropy over all prompts, curriculum minus "
              "flat (nats, same seed)", curriculum.window("eval/entropy", 0.0, FIRST_HALF)
              - flat.window("eval/entropy", 0.0, FIRST_HALF), ">", 0.0),
        check("final_entropy_above_flat", "last evaluation: the same, curriculum minus flat (nats)",
              curriculum.final("eval/entropy") - flat.final("eval/entropy"), ">", 0.0),
        check("accuracy_kept", "final exact pass@1, curriculum minus flat",
              curriculum.final("eval/pass@1") - flat.final("eval/pass@1"), ">", -0.05),
    ])
    arms = {"flat": flat, "curriculum": curriculum}
    result.info = {
        "first_half_eval_entropy": {name: float(np.nanmean(arm.window("eval/entropy", 0.0, FIRST_HALF)))
                                    for name, arm in arms.items()},
        "final_eval_entropy": {name: float(np.nanmean(arm.final("eval/entropy"))) for name, arm in arms.items()},
        "final_pass@1": {name: float(np.nanmean(arm.final("eval/pass@1"))) for name, arm in arms.items()},
        "final_trained_prompts_entropy": {name: float(np.nanmean(final_mean(arm))) for name, arm in arms.items()},
        "curriculum_semantic_entropy_by_half": [
            float(np.nanmean(curriculum.window("curriculum/semantic_entropy", start, stop)))
            for start, stop in ((0.1, FIRST_HALF), (FIRST_HALF, 1.0))],
    }
    result.figures = [
        figures.bands("sent_entropy", "Exact entropy over all prompts: SENT without and with its curriculum",
                      "mean token entropy (nats)", arms, "eval/entropy"),
        figures.bands("sent_pass_at_1", "Exact pass@1: SENT without and with its curriculum", "pass@1", arms,
                      "eval/pass@1")]
    return result


VAPO_BAND = 0.5
"""VAPO's entropy band: its final entropy keeps at least this share of its entropy at the first step."""


def evaluate_vapo(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 22: VAPO's learned value keeps entropy stable: above GRPO's at the end, within a band of its start,
    without losing accuracy."""
    grpo, vapo = runs["grpo"].of("main"), runs["vapo"].of("main")
    start = vapo.window("entropy/mean", 0.0, 0.01)
    result = ClaimResult(checks=[
        check("final_entropy_above_grpo", "last 5% of the steps: mean token entropy, VAPO minus GRPO (nats, same seed)",
              final_mean(vapo) - final_mean(grpo), ">", 0.0),
        check("entropy_in_band", "VAPO's final entropy over its entropy in the first 1% of the steps",
              final_mean(vapo) / start, ">", VAPO_BAND),
        check("accuracy_kept", "final exact pass@1, VAPO minus GRPO",
              vapo.final("eval/pass@1") - grpo.final("eval/pass@1"), ">", -0.05),
    ])
    result.info = {"final_entropy": {"grpo": float(np.nanmean(final_mean(grpo))),
                                     "vapo": float(np.nanmean(final_mean(vapo)))},
                   "first_1%_entropy": {"grpo": float(np.nanmean(grpo.window("entropy/mean", 0.0, 0.01))),
                                        "vapo": float(np.nanmean(start))},
                   "final_pass@1": {"grpo": float(np.nanmean(grpo.final("eval/pass@1"))),
                                    "vapo": float(np.nanmean(vapo.final("eval/pass@1")))},
                   "critic_value_loss_first_and_last_5%": [
                       float(np.nanmean(vapo.window("critic/value_loss", 0.0, 0.05))),
                       float(np.nanmean(final_mean(vapo, "critic/value_loss")))],
                   "critic_pretrain_value_loss": float(np.nanmean(vapo.window("critic/pretrain_value_loss", 0.0))),
                   "positive_nll_last_5%": float(np.nanmean(final_mean(vapo, "actor/pos_lm_nll")))}
    result.figures = [
        figures.bands("vapo_entropy", "Entropy: GRPO vs VAPO", "mean token entropy (nats)",
                      {"GRPO": grpo, "VAPO": vapo}, "entropy/mean"),
        figures.bands("vapo_pass_at_1", "Exact pass@1: GRPO vs VAPO", "pass@1",
                      {"GRPO": grpo, "VAPO": vapo}, "eval/pass@1")]
    return result
