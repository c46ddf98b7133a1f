"""Verdict rules of the claims about how learning moves entropy (claims 1-6, 9-11).

Each ``evaluate_*`` takes the finished arms of its claim (``{arm name: ArmRun}``) and returns a
:class:`~entropic.laws.verdict.ClaimResult`: one-sided checks on per-seed statistics, further
statistics, and figures. Thresholds are written next to the checks that use them.
"""

from __future__ import annotations

import numpy as np

from entropic.laws import figures
from entropic.laws.fit import fit_entropy_reward
from entropic.laws.percentiles import bucket_key, entropy_percentile_curves
from entropic.laws.predictor import observed_entropy_change, prediction_quality
from entropic.laws.quadrants import QUADRANTS
from entropic.laws.records import RunRecords
from entropic.laws.runner import ArmRun
from entropic.laws.stats import linear_fit, mean_ci
from entropic.laws.verdict import ClaimResult, check, pending

LARGE_K = 256
"""The k of "pass@k at large k" (the bandit's largest ``eval_k``)."""
TAIL = 0.95
"""Final values are means over the last 5% of the steps."""


def final_mean(records: RunRecords, key: str = "entropy/mean") -> np.ndarray:
    return records.window(key, TAIL)


def by_variant(arm: ArmRun, values: np.ndarray) -> np.ndarray:
    """``[R]`` per-run values -> ``[variants, seeds]``."""
    return np.asarray(values).reshape(len(arm.arm.variants), arm.seeds)


def evaluate_covariance_law(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 1: the first-order predictor matches the realised one-step entropy change."""
    arm = runs["main"]
    records, lrs = arm.records, arm.knob("backend.lr")
    observed = observed_entropy_change(records)
    pg, npg = records["laws/dH_pg"], records["laws/dH_npg"]
    quality, proxy = prediction_quality(pg, observed), prediction_quality(npg, observed)
    first_error = np.abs(pg[0] - observed[0]) / np.abs(observed[0])  # state-matched across lrs (common seeds)
    variant_lr = by_variant(arm, lrs)[:, 0]
    log_error = np.log(by_variant(arm, first_error))
    order = np.array([linear_fit(np.log(variant_lr), log_error[:, s]).slope for s in range(arm.seeds)])
    correlation, error = by_variant(arm, quality["correlation"]), by_variant(arm, quality["relative_error"])
    result = ClaimResult(checks=[
        check("pg_correlation", "lowest over learning rates of the Pearson correlation, over a run's steps, between "
              "the predicted (PG form) and the observed one-step change of mean entropy", correlation.min(0), ">",
              0.95),
        check("pg_relative_error", f"sum |predicted - observed| / sum |observed| over the run at the smallest "
              f"learning rate ({variant_lr[0]:g})", error[0], "<", 0.10),
        check("error_is_second_order", "slope of log(first-step relative error) against log(learning rate), same "
              "state for every rate (a first-order predictor leaves an O(lr) relative error: slope 1)", order, ">",
              0.5),
        check("pg_sign_agreement", "lowest over learning rates of the share of steps where predicted and observed "
              "changes have the same sign", by_variant(arm, quality["sign_agreement"]).min(0), ">", 0.95),
    ])
    result.info = {f"lr={lr:g}": {
        "pg_correlation": float(np.nanmean(correlation[i])), "pg_relative_error": float(np.nanmean(error[i])),
        "pg_slope": float(np.nanmean(by_variant(arm, quality["slope"])[i])),
        "first_step_relative_error": float(np.nanmean(by_variant(arm, first_error)[i])),
        "npg_correlation": float(np.nanmean(by_variant(arm, proxy["correlation"])[i])),
        "npg_slope": float(np.nanmean(by_variant(arm, proxy["slope"])[i]))} for i, lr in enumerate(variant_lr)}
    first_run = {f"lr={lr:g}": (pg[:300, arm.runs(v)[0]], observed[:300, arm.runs(v)[0]])
                 for lr, v in zip(variant_lr, arm.arm.variants, strict=True)}
    result.figures = [
        figures.scatter("covariance_law_scatter", "Predicted (PG form) vs observed one-step entropy change",
                        "predicted dH (nats)", "observed dH (nats)", first_run, identity=True),
        figures.lines("covariance_law_error", "Relative error of the predictor vs learning rate", "learning rate",
                      "relative error", {"over the run": (variant_lr, error),
                                         "first step": (variant_lr, by_variant(arm, first_error))},
                      logx=True, logy=True),
        figures.bands("covariance_law_entropy", "Entropy per learning rate", "mean token entropy (nats)",
                      {f"lr={lr:g}": arm.of(v) for lr, v in zip(variant_lr, arm.arm.variants, strict=True)},
                      "entropy/mean")]
    return result


def evaluate_entropy_performance(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 2: R = -a exp(H) + b fits a run, and its early fit predicts the final reward."""
    records = runs["main"].records
    entropy, reward = records["entropy/mean"], records["reward/mean"]
    early = len(records.steps) // 3
    final_entropy, final_reward = final_mean(records), final_mean(records, "reward/mean")
    full_fits = [fit_entropy_reward(entropy[:, r], reward[:, r]) for r in range(records.num_runs)]
    early_fits = [fit_entropy_reward(entropy[:early, r], reward[:early, r]) for r in range(records.num_runs)]
    predicted = np.array([f.predict(h) for f, h in zip(early_fits, final_entropy, strict=True)])
    ceilings = np.array([f.ceiling for f in early_fits])
    result = ClaimResult(checks=[
        check("r2", "R^2 of R = -a exp(H) + b fitted on a whole run (batch reward vs mean entropy)",
              [f.r2 for f in full_fits], ">", 0.9),
        check("early_fit_predicts_final", "|R(H_final) - R_final| with the law fitted on the first third of the run "
              "(final = last 5% of steps)", np.abs(predicted - final_reward), "<", 0.05),
        check("ceiling_predicts_final", "|(-a + b) - R_final| with the ceiling of the first-third fit",
              np.abs(ceilings - final_reward), "<", 0.05),
    ])
    result.info = {"full_fit": [f.to_dict() for f in full_fits], "first_third_fit": [f.to_dict() for f in early_fits],
                   "final_reward": final_reward.tolist(), "final_entropy": final_entropy.tolist()}
    grid = np.linspace(0.0, float(np.nanmax(entropy)), 50)
    result.figures = [
        figures.fit("entropy_performance_fit", "Reward vs entropy and R = -a exp(H) + b", "mean token entropy (nats)",
                    "batch reward", {"run 0 (all steps)": (entropy[:, 0], reward[:, 0])},
                    {"fit, whole run": (grid, full_fits[0].predict(grid)),
                     "fit, first third": (grid, early_fits[0].predict(grid))}),
        figures.bands("entropy_performance_trajectory", "GRPO: entropy and reward", "nats / reward",
                      {"entropy": (records.steps, entropy), "reward": (records.steps, reward)})]
    return result


def evaluate_pos_neg_samples(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 3: PSR collapses entropy, NSR keeps it and pass@k at large k, W-REINFORCE in between."""
    arm = runs["main"]
    psr, nsr, wr = (arm.of(v) for v in ("psr", "nsr", "w_reinforce"))
    start = psr["entropy/mean"][0]
    h_psr, h_nsr, h_w = final_mean(psr), final_mean(nsr), final_mean(wr)
    large = f"eval/pass@{LARGE_K}"
    result = ClaimResult(checks=[
        check("psr_collapses", "PSR final / initial mean entropy", h_psr / start, "<", 0.5),
        check("nsr_keeps_entropy", "NSR final / initial mean entropy", h_nsr / start, ">", 0.9),
        check("w_reinforce_between", "min(H_W - H_PSR, H_NSR - H_W) of the final entropies (nats)",
              np.minimum(h_w - h_psr, h_nsr - h_w), ">", 0.0),
        check("nsr_pass_at_large_k", f"final pass@{LARGE_K}, NSR minus PSR (same seeds)",
              nsr.final(large) - psr.final(large), ">", 0.0),
    ])
    ks = [1, 8, 64, 256]
    result.info = {v: {"final_entropy": float(np.mean(final_mean(arm.of(v)))),
                       **{f"pass@{k}": float(np.mean(arm.of(v).final(f"eval/pass@{k}"))) for k in ks}}
                   for v in arm.arm.variants}
    result.notes.append("On-policy REINFORCE with +1/-1 rewards: E[1(correct) grad log pi] = E[-1(wrong) grad log pi] "
                        "= grad P(correct), so PSR and NSR have the same expected update; they differ only through "
                        "sampling noise, and W-REINFORCE is about 1.1 x either.")
    result.figures = [
        figures.bands("pos_neg_entropy", "PSR / NSR / W-REINFORCE: entropy", "mean token entropy (nats)",
                      {"PSR": psr, "NSR": nsr, "W-REINFORCE": wr}, "entropy/mean"),
        figures.lines("pos_neg_passk", "Final pass@k", "k", "pass@k",
                      {v: (np.array(ks), np.stack([arm.of(v).final(f"eval/pass@{k}") for k in ks]))
                       for v in arm.arm.variants}, logx=True)]
    return result


def _entropy_at_reward(records: RunRecords, levels: tuple[float, ...], smooth: int = 10) -> np.ndarray:
    """``[levels, R]``: smoothed entropy at the first step where the smoothed reward reaches each level."""
    kernel = np.ones(smooth) / smooth
    out = np.full((len(levels), records.num_runs), np.nan)
    for r in range(records.num_runs):
        reward = np.convolve(records["reward/mean"][:, r], kernel, mode="valid")
        entropy = np.convolve(records["entropy/mean"][:, r], kernel, mode="valid")
        for i, level in enumerate(levels):
            reached = np.nonzero(reward >= level)[0]
            if reached.size:
                out[i, r] = entropy[reached[0]]
    return out


def evaluate_clip_higher(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 4: Clip-Higher (eps_high 0.28 vs 0.2) keeps entropy higher at similar reward."""
    arm = runs["main"]
    low, high = arm.of("eps_high_0.2"), arm.of("eps_high_0.28")
    levels = (0.3, 0.5, 0.7, 0.9)
    matched = np.nanmean(_entropy_at_reward(high, levels) - _entropy_at_reward(low, levels), axis=0)
    result = ClaimResult(checks=[
        check("entropy_higher", "mean entropy over the run, eps_high 0.28 minus 0.2 (nats, same seeds)",
              high.window("entropy/mean", 0.0) - low.window("entropy/mean", 0.0), ">", 0.0),
        check("entropy_higher_at_matched_reward", f"entropy where the reward first reaches {levels}, 0.28 minus "
              "0.2, averaged over the levels (nats)", matched, ">", 0.0),
        check("similar_reward", "|final reward difference|", np.abs(final_mean(high, "reward/mean")
                                                                     - final_mean(low, "reward/mean")), "<", 0.05),
    ])
    if "on_policy" in runs:
        on = runs["on_policy"]
        same = np.nanmax(np.abs(on.of("eps_high_0.28")["entropy/mean"] - on.of("eps_high_0.2")["entropy/mean"]), 0)
        result.checks.append(check("inert_on_policy", "largest |entropy difference| of the two clips with one update "
                                   "per batch (the ratio is 1, so the clip cannot act)", same, "<", 1e-6))
    result.figures = [figures.bands("clip_higher_entropy", "Clip-Higher, 4 epochs per batch", "mean token entropy",
                                    {"eps_high=0.2": low, "eps_high=0.28": high}, "entropy/mean"),
                      figures.bands("clip_higher_reward", "Clip-Higher: reward", "batch reward",
                                    {"eps_high=0.2": low, "eps_high=0.28": high}, "reward/mean")]
    return result


def evaluate_cov_methods(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 5: Clip-Cov and KL-Cov keep entropy higher than GRPO; entropy rises with their ratio."""
    grpo = runs["grpo"].of("main")
    base = grpo.window("entropy/mean", 0.0)
    checks, monotone, series = [], [], {"GRPO": grpo}
    for name, label in (("clip_cov", "Clip-Cov"), ("kl_cov", "KL-Cov")):
        arm = runs[name]
        means = np.stack([arm.of(v).window("entropy/mean", 0.0) for v in arm.arm.variants])  # [V, seeds]
        default = arm.of(arm.arm.variants[0])
        checks.append(check(f"{name}_above_grpo", f"mean entropy over the run, {label} at the default ratio "
                            f"({arm.arm.variants[0]}) minus GRPO (nats, same seeds)", means[0] - base, ">", 0.0))
        checks.append(check(f"{name}_pass1", f"final pass@1, {label} (default ratio) minus GRPO",
                            default.final("eval/pass@1") - grpo.final("eval/pass@1"), ">", -0.05))
        monotone.append(np.diff(means, axis=0).min(0))
        series.update({f"{label} {v}": arm.of(v) for v in arm.arm.variants})
    checks.append(check("entropy_rises_with_ratio", "smallest paired entropy increase between consecutive "
                        "ratios, both methods (nats)", np.minimum(*monotone), ">", 0.0))
    return ClaimResult(checks=checks, figures=[figures.bands(
        "cov_methods_entropy", "GRPO vs Clip-Cov vs KL-Cov (4 epochs per batch)", "mean token entropy (nats)",
        series, "entropy/mean")])


def evaluate_top_entropy(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 6: updating only the top-20% entropy tokens matches full updates (bandit, and toy LM when run)."""
    result = ClaimResult()
    for name, where in (("main", "multi-token bandit"), ("toy_lm", "toy LM")):
        if name not in runs:
            continue
        arm, prefix = runs[name], "" if name == "main" else "toy_lm_"
        full, top = arm.of("rho_1.0"), arm.of("rho_0.2")
        result.checks += [
            check(f"{prefix}top20_matches_pass1", f"{where}: final pass@1, top 20% minus all tokens",
                  top.final("eval/pass@1") - full.final("eval/pass@1"), ">", -0.05),
            check(f"{prefix}top20_keeps_entropy", f"{where}: final mean entropy, top 20% minus all tokens (nats)",
                  final_mean(top) - final_mean(full), ">", 0.0)]
        result.figures.append(figures.bands(f"top_entropy_{name}_pass1", f"{where}: top-20% entropy tokens vs all",
                                            "pass@1", {"all tokens": full, "top 20%": top}, "eval/pass@1"))
    result.notes.append("Multi-token bandit: every position must be correct and positions are alike, so no "
                        "position is a 'forking' one; the toy LM is the paper's kind of setting.")
    return result


def evaluate_quadrants(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 9: high-probability positive-advantage tokens account for most of the entropy drop."""
    records = runs["main"].records
    sums = {q: np.nansum(records[f"laws/dH/{q}"], 0) for q in QUADRANTS}  # [R] each
    total = sum(sums.values())
    observed = np.nansum(observed_entropy_change(records), 0)
    result = ClaimResult(checks=[
        check("high_pos_share", "sum over the run of the high-probability positive-advantage contribution / sum of "
              "the total predicted change", sums["high_pos"] / total, ">", 0.5),
        check("decomposition_matches", "|sum of predicted changes / observed change over the run - 1|",
              np.abs(total / observed - 1.0), "<", 0.25),
    ])
    result.info = {q: {"sum_dH": float(np.mean(sums[q])),
                       "token_share": float(np.nanmean(records[f"laws/share/{q}"]))} for q in QUADRANTS}
    result.info["observed_total"] = float(np.mean(observed))
    result.figures = [
        figures.bars("quadrants_bars", "First-order entropy change by token class, summed over the run",
                     "dH (nats)", {q: sums[q] for q in QUADRANTS}),
        figures.bands("quadrants_cumulative", "Cumulative contribution by token class", "dH (nats)",
                      {q: (records.steps, np.nancumsum(records[f"laws/dH/{q}"], 0)) for q in QUADRANTS}),
        figures.bands("entropy_percentiles", "GRPO: token-entropy percentiles", "token entropy (nats)",
                      {f"p{q:g}": (records.steps, curve) for q, curve in entropy_percentile_curves(records).items()}),
        figures.bands("passk_by_entropy_bucket", "GRPO: batch pass@1 by prompt-entropy quartile (1 = lowest)",
                      "pass@1 (sampled groups)",
                      {f"quartile {i + 1}": (records.steps, records[bucket_key(1, i)]) for i in range(4)
                       if bucket_key(1, i) in records})]
    return result


def evaluate_kl_penalty(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 10: a KL penalty slows the collapse at a reward cost; ProRL's reference resets recover the reward.

    The ``reset`` arm runs the strongest coefficient of ``main`` (same seeds) with the reference reset to
    the current policy every N steps; it is compared seed by seed with that coefficient without resets.
    """
    arm, reset = runs["main"], runs["reset"].of("main")
    variants = arm.arm.variants
    early = np.stack([arm.of(v).window("entropy/mean", 0.0, 1 / 3) for v in variants])  # [V, seeds]
    reward = np.stack([final_mean(arm.of(v), "reward/mean") for v in variants])
    entropy = np.stack([final_mean(arm.of(v)) for v in variants])
    beta = runs["reset"].knob("control.kl_loss_coef")[0]
    if beta != by_variant(arm, arm.knob("control.kl_loss_coef"))[-1, 0]:
        raise ValueError(f"the reset arm runs kl_loss_coef={beta:g}, not the strongest coefficient of {variants}")
    every = runs["reset"].config["trainer"]["reference_reset_every"]
    with_resets = f"{variants[-1]} with resets every {every} steps"
    reset_reward, reset_entropy = final_mean(reset, "reward/mean"), final_mean(reset)
    result = ClaimResult(checks=[
        check("kl_slows_collapse", f"mean entropy over the first third, {variants[-1]} minus {variants[0]} (nats)",
              early[-1] - early[0], ">", 0.0),
        check("entropy_rises_with_beta", "smallest paired increase of that entropy between consecutive KL "
              "coefficients (nats)", np.diff(early, axis=0).min(0), ">", 0.0),
        check("reward_cost", f"final reward, {variants[-1]} minus {variants[0]}", reward[-1] - reward[0], "<", 0.0),
        check("reset_recovers_reward", f"final reward, {with_resets} minus without (same seeds)",
              reset_reward - reward[-1], ">", 0.0),
        check("reset_keeps_entropy", f"final mean entropy, {with_resets} minus {variants[0]} (nats): the penalty "
              "still holds entropy above no penalty", reset_entropy - entropy[0], ">", 0.0),
    ])
    recovered = (reset_reward - reward[-1]) / (reward[0] - reward[-1])
    entropy_change = mean_ci(reset_entropy - entropy[-1])
    result.info = {"reset_every": every, "final_reward": {v: float(np.mean(r)) for v, r in zip(variants, reward,
                                                                                              strict=True)},
                   "final_reward_with_resets": float(np.mean(reset_reward)),
                   "reward_cost_recovered": mean_ci(recovered).to_dict(),
                   "final_entropy_with_resets_minus_without": entropy_change.to_dict()}
    side = "higher" if entropy_change.low > 0 else "lower" if entropy_change.high < 0 else "not distinguishable"
    result.notes.append(f"{with_resets} minus without: final entropy {entropy_change.mean:+.3f} "
                        f"[{entropy_change.low:+.3f}, {entropy_change.high:+.3f}] nats ({side} with resets); "
                        f"share of the reward cost recovered {np.nanmean(recovered):.2f}.")
    series = {**{v: arm.of(v) for v in variants}, f"{variants[-1]}, resets": reset}
    result.figures = [figures.bands("kl_penalty_entropy", "KL loss (k3) to the reference", "mean token entropy",
                                    series, "entropy/mean"),
                      figures.bands("kl_penalty_reward", "KL loss: reward", "batch reward", series, "reward/mean")]
    return result


def evaluate_dr_grpo_length(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 11: under GRPO (seq-mean-token-mean) wrong responses grow longer; under Dr.GRPO they do not."""
    if "grpo" not in runs or "dr_grpo" not in runs:
        reason = "needs variable-length responses: the toy LM (backend=toy_lm), run in the full mode only"
        return ClaimResult(checks=[pending("grpo_wrong_responses_grow", "growth of the mean length of wrong "
                                           "responses", reason)])
    grpo, dr = runs["grpo"].of("main"), runs["dr_grpo"].of("main")

    def growth(records: RunRecords) -> np.ndarray:
        """Mean wrong-response length over the last 20% of steps minus the first 10% (tokens)."""
        return records.window("laws/length/wrong", 0.8) - records.window("laws/length/wrong", 0.0, 0.1)

    result = ClaimResult(checks=[
        check("grpo_wrong_responses_grow", "GRPO (seq-mean-token-mean): growth of the mean length of wrong "
              "responses, last 20% minus first 10% of the steps (tokens)", growth(grpo), ">", 0.0),
        check("dr_grpo_removes_the_growth", "Dr.GRPO's growth minus GRPO's (tokens, same seeds)",
              growth(dr) - growth(grpo), "<", 0.0),
    ])
    result.info = {"grpo_growth": float(np.nanmean(growth(grpo))), "dr_grpo_growth": float(np.nanmean(growth(dr))),
                   "grpo_final_pass@1": float(np.nanmean(grpo.final("eval/pass@1"))),
                   "dr_grpo_final_pass@1": float(np.nanmean(dr.final("eval/pass@1")))}
    result.figures = [figures.bands("dr_grpo_length", "Toy LM: mean length of wrong responses", "tokens",
                                    {"GRPO": grpo, "Dr.GRPO": dr}, "laws/length/wrong")]
    return result
