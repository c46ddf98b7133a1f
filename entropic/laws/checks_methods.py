"""Verdict rules of the claims of single published methods against GRPO (claims 15-16: SEED-GRPO, STEER).

Same contract as :mod:`entropic.laws.checks_learning`: ``evaluate_*(runs) -> ClaimResult``. Each
claim runs GRPO and the method on the same seeds, so every statistic is a per-seed difference or
ratio. Thresholds are written next to the checks that use them.
"""

from __future__ import annotations

import numpy as np

from entropic.laws import figures
from entropic.laws.checks_learning import final_mean
from entropic.laws.percentiles import bucket_key
from entropic.laws.runner import ArmRun
from entropic.laws.verdict import ClaimResult, check

FIRST_HALF = 0.5
"""SEED-GRPO's conservatism is read over the first half of the run, while prompts are still uncertain."""
CERTAIN, UNCERTAIN = "laws/entropy/bucket0", "laws/entropy/bucket3"
"""Mean entropy of the batch's most certain and most uncertain quarter of prompts (laws sensors, 4 buckets)."""
TAIL_QUANTILE, BAND_QUANTILE = 0.95, 0.90
"""STEER: the large changes are the 95th percentile of |dH|; the band is GRPO's 90th percentile."""


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
