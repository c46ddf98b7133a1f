"""Verdict rules of the claims about controlling entropy (claims 7, 8, 12-14).

Same contract as :mod:`entropic.laws.checks_learning`: ``evaluate_*(runs) -> ClaimResult``.
"""

from __future__ import annotations

import numpy as np
import torch

from entropic.laws import figures
from entropic.laws.checks_learning import LARGE_K, by_variant, final_mean
from entropic.laws.runner import ArmRun
from entropic.laws.stats import linear_fit, pearson
from entropic.laws.verdict import ClaimResult, check

LATE = 0.9
"""Steady-state values are means over the last 10% of the steps."""


def evaluate_fixed_bonus(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 7: a fixed entropy bonus collapses or explodes; the adaptive coefficient holds across its range."""
    fixed, adaptive = runs["fixed"], runs["adaptive"]
    target = float(adaptive.config["controller"]["law"]["target"])
    start = fixed.of(fixed.arm.variants[0])["entropy/mean"][0]
    fixed_final = np.stack([fixed.of(v).window("entropy/mean", LATE) for v in fixed.arm.variants])  # [V, seeds]
    adaptive_final = np.stack([adaptive.of(v).window("entropy/mean", LATE) for v in adaptive.arm.variants])
    low, high = fixed.arm.variants[0], fixed.arm.variants[-1]
    result = ClaimResult(checks=[
        check("small_fixed_collapses", f"final / initial entropy with the smallest fixed coefficient ({low})",
              fixed_final[0] / start, "<", 0.25),
        check("large_fixed_explodes", f"final minus initial entropy with the largest fixed coefficient ({high}) (nats)",
              fixed_final[-1] - start, ">", 0.0),
        check("adaptive_holds_target", f"largest |H_final - target| / target over the adaptive rule's range "
              f"{list(adaptive.arm.variants)} (target {target:g} nats)",
              (np.abs(adaptive_final - target) / target).max(0), "<", 0.1),
        check("fixed_more_fragile", "spread (max - min) of the final entropy over the fixed coefficients minus that "
              "over the adaptive rule's range, both 100x wide (nats)",
              np.ptp(fixed_final, 0) - np.ptp(adaptive_final, 0), ">", 0.0),
    ])
    result.info = {"fixed_final_entropy": {v: float(np.mean(h)) for v, h in zip(fixed.arm.variants, fixed_final,
                                                                                strict=True)},
                   "adaptive_final_entropy": {v: float(np.mean(h)) for v, h in zip(adaptive.arm.variants,
                                                                                    adaptive_final, strict=True)}}
    result.figures = [
        figures.bands("fixed_bonus_entropy", "Fixed entropy coefficient", "mean token entropy (nats)",
                      {v: fixed.of(v) for v in fixed.arm.variants}, "entropy/mean"),
        figures.bands("adaptive_bonus_entropy", "Skywork adaptive coefficient (target 1.5 nats)",
                      "mean token entropy (nats)", {v: adaptive.of(v) for v in adaptive.arm.variants}, "entropy/mean",
                      hline=target)]
    return result


def evaluate_pi_control(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 8: a PI controller holds the target entropy and beats a fixed bonus on final pass@k."""
    pi, fixed = runs["pi"].of("main"), runs["fixed"]
    setpoint = float(runs["pi"].config["controller"]["law"]["setpoint"])
    entropy = pi["entropy/mean"]
    half = entropy.shape[0] // 2
    tracking = np.nanmean(np.abs(entropy[half:] - setpoint), 0) / setpoint
    key = f"eval/pass@{LARGE_K}"
    fixed_passk = np.stack([fixed.of(v).final(key) for v in fixed.arm.variants])  # [V, seeds]
    result = ClaimResult(checks=[
        check("pi_holds_target", f"mean |H - target| / target over the second half (target {setpoint:g} nats)",
              tracking, "<", 0.1),
        check("pi_beats_fixed_passk", f"final pass@{LARGE_K}, PI minus the best fixed coefficient of "
              f"{list(fixed.arm.variants)} (same seeds)", pi.final(key) - fixed_passk.max(0), ">", 0.0),
    ])
    result.info = {"pi_pass@k": float(np.mean(pi.final(key))),
                   "fixed_pass@k": {v: float(np.mean(p)) for v, p in zip(fixed.arm.variants, fixed_passk,
                                                                         strict=True)},
                   "pi_final_coefficient": float(np.mean(pi.final("control/entropy_coeff")))}
    result.figures = [figures.bands("pi_control_entropy", "PI on the entropy coefficient vs fixed coefficients",
                                    "mean token entropy (nats)",
                                    {"PI": pi, **{v: fixed.of(v) for v in fixed.arm.variants}}, "entropy/mean",
                                    hline=setpoint),
                      figures.bands("pi_control_passk", f"pass@{LARGE_K}", f"pass@{LARGE_K}",
                                    {"PI": pi, **{v: fixed.of(v) for v in fixed.arm.variants}}, key)]
    return result


def evaluate_unlikeliness(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 12: the unlikeliness reward raises pass@k at large k."""
    grpo, unlikely = runs["grpo"].of("main"), runs["unlikeliness"].of("main")
    key = f"eval/pass@{LARGE_K}"
    result = ClaimResult(checks=[
        check("pass_at_large_k", f"final pass@{LARGE_K}, unlikeliness reward minus GRPO (same seeds)",
              unlikely.final(key) - grpo.final(key), ">", 0.0)])
    result.info = {"pass@1_difference": float(np.mean(unlikely.final("eval/pass@1") - grpo.final("eval/pass@1"))),
                   "entropy_difference": float(np.mean(final_mean(unlikely) - final_mean(grpo)))}
    result.figures = [figures.bands("unlikeliness_passk", f"pass@{LARGE_K}: GRPO vs unlikeliness reward",
                                    f"pass@{LARGE_K}", {"GRPO": grpo, "unlikeliness": unlikely}, key)]
    return result


def evaluate_reweighting_authority(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 13: reweighting can lower entropy at will but raise it only while negative samples exist."""
    records = runs["main"].records
    pos = records["laws/dH/high_pos"] + records["laws/dH/low_pos"]  # first-order dH of the A > 0 tokens
    neg = records["laws/dH/high_neg"] + records["laws/dH/low_neg"]
    # weights in [0, 2] (EntroPIC's 1 +- alpha): the largest rise and fall one step can make by reweighting
    raise_capacity = 2 * (np.maximum(pos, 0) + np.maximum(neg, 0))
    lower_capacity = -2 * (np.minimum(pos, 0) + np.minimum(neg, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        raise_share = np.where(raise_capacity + lower_capacity > 0,
                               raise_capacity / (raise_capacity + lower_capacity), np.nan)
        # gain of the pos_neg_weight knob d (pos = 1 - d, neg = 1 + d) in units of the entropy coefficient's gain
        coefficient = records["laws/authority/entropy_coeff"]
        relative_gain = np.where(coefficient > 0, np.abs(neg - pos) / coefficient, np.nan)
    steps = raise_share.shape[0]
    early, late = slice(0, max(steps // 10, 1)), slice(int(0.8 * steps), steps)
    fade = np.nanmean(relative_gain[late], 0) / np.nanmean(relative_gain[early], 0)
    result = ClaimResult(checks=[
        check("raises_while_negatives_are_common", "first 10% of the steps: mean share of reweighting's reach that "
              "raises entropy, raise / (raise + lower) capacity", np.nanmean(raise_share[early], 0), ">", 0.25),
        check("only_lowers_once_groups_are_flat", "last 20% of the steps: the same share", np.nanmean(
            raise_share[late], 0), "<", 0.05),
        check("authority_fades_against_the_coefficient", "late / early mean of reweighting's gain |dH_neg - dH_pos| "
              "over the entropy coefficient's gain", fade, "<", 1.0),
    ])
    flat = records["reward/flat_group_frac"]
    negatives = records["laws/share/high_neg"] + records["laws/share/low_neg"]
    result.info = {"early_flat_group_frac": float(np.nanmean(records.window("reward/flat_group_frac", 0.0, 0.1))),
                   "late_flat_group_frac": float(np.nanmean(records.window("reward/flat_group_frac", 0.8))),
                   "early_negative_token_share": float(np.nanmean(negatives[early])),
                   "late_negative_token_share": float(np.nanmean(negatives[late])),
                   "steps_where_reweighting_can_raise": float(np.mean(raise_capacity > 0)),
                   "corr_relative_gain_informative_groups": float(np.nanmean(
                       [pearson(relative_gain[:, r], 1 - flat[:, r]) for r in range(records.num_runs)]))}
    result.figures = [figures.scatter(
        "reweighting_authority", "Reach of reweighting (weights in [0, 2]) vs flat groups, all seeds",
        "reward/flat_group_frac", "share of the reach that raises entropy",
        {"raise / (raise + lower)": (flat.reshape(-1), raise_share.reshape(-1))}),
        figures.scatter("reweighting_gain", "Gain of reweighting over the entropy coefficient's, all seeds",
                        "reward/flat_group_frac", "|dH_neg - dH_pos| / (dH per unit coefficient)",
                        {"relative gain": (flat.reshape(-1), relative_gain.reshape(-1))})]
    return result


def nsr_drift(probe: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Per run: how the unpenalised arms' log-probabilities moved in one NSR step.

    For each state whose sampled arm ``y`` got a negative advantage, over the other arms ``v`` with
    weights ``q_v = pi_v / (1 - pi_y)``: ``drift`` = q-weighted std of ``d_v = dlog pi_v`` (0 iff every
    ratio ``pi_v / pi_w`` is unchanged), ``common`` = q-weighted mean of ``d_v``, ``r2`` = weighted R^2
    of ``d_v`` on ``pi_v`` (1 when the logit step is affine in the prior, as the softmax gradient's is).

    Returns
    -------
    dict[str, ndarray [R]]
        Means over each run's penalised states of ``drift``, ``|common|`` and ``r2``.
    """
    before, after = torch.log_softmax(probe["before"].double(), -1), torch.log_softmax(probe["after"].double(), -1)
    penalised = (probe["advantages"] < 0) & (probe["mask"] > 0)  # [B, T]
    rows, positions = torch.nonzero(penalised, as_tuple=True)
    tokens = probe["tokens"][rows, positions]
    prior = before[rows, positions].exp()  # [N, K]
    change = after[rows, positions] - before[rows, positions]
    others = torch.ones_like(prior).scatter(-1, tokens.unsqueeze(-1), 0.0)
    q = prior * others / (prior * others).sum(-1, keepdim=True)
    common = (q * change).sum(-1)
    centred = change - common.unsqueeze(-1)
    drift = (q * centred ** 2).sum(-1).sqrt()
    prior_centred = prior - (q * prior).sum(-1, keepdim=True)
    slope = (q * centred * prior_centred).sum(-1) / (q * prior_centred ** 2).sum(-1)
    residual = centred - slope.unsqueeze(-1) * prior_centred
    r2 = 1 - (q * residual ** 2).sum(-1) / (q * centred ** 2).sum(-1).clamp(min=1e-300)
    run = probe["run"][rows]
    num_runs = int(probe["run"].max()) + 1
    count = torch.bincount(run, minlength=num_runs).double().clamp(min=1)

    def mean(values: torch.Tensor) -> np.ndarray:
        return (torch.zeros(num_runs, dtype=torch.float64).index_add(0, run, values) / count).numpy()

    return {"drift": mean(drift), "common": mean(common.abs()), "r2": mean(r2)}


def evaluate_nsr_prior(runs: dict[str, ArmRun]) -> ClaimResult:
    """Claim 14: one NSR step keeps the ratios of unpenalised arms fixed (to first order) - in logit space only."""
    arm = runs["main"]
    stats = nsr_drift(arm.probe)
    lrs = by_variant(arm, arm.knob("backend.lr"))[:, 0]
    drift, r2 = by_variant(arm, stats["drift"]), by_variant(arm, stats["r2"])
    relative = drift / by_variant(arm, stats["common"])
    order = np.array([linear_fit(np.log(lrs), np.log(drift[:, s])).slope for s in range(arm.seeds)])
    result = ClaimResult(checks=[
        check("ratios_fixed_to_first_order", "slope of log(ratio drift) against log(step size): 2 or more if the "
              "ratios pi_v/pi_w of unpenalised arms are unchanged to first order, 1 if they move at first order",
              order, ">", 1.5),
        check("logit_step_proportional_to_prior", f"R^2 of dlog pi_v against pi_v over unpenalised arms at the "
              f"smallest step (lr={lrs[0]:g}): the logit step is affine in the prior", r2[0], ">", 0.99),
    ])
    result.info = {f"lr={lr:g}": {"drift": float(np.mean(drift[i])), "relative_drift": float(np.mean(relative[i])),
                                  "r2": float(np.mean(r2[i]))} for i, lr in enumerate(lrs)}
    result.notes.append("Softmax PG step of NSR on arm y: dz_v = +c pi_v for v != y, so d log(pi_v/pi_w) = "
                        "c (pi_v - pi_w): the logit step is proportional to the prior, the probability ratios are not "
                        "fixed at first order.")
    result.figures = [figures.lines("nsr_prior_drift", "One NSR step: drift of the unpenalised arms' ratios",
                                    "learning rate", "drift (std of dlog pi_v)",
                                    {"drift": (lrs, drift), "drift / |common shift|": (lrs, relative)},
                                    logx=True, logy=True)]
    return result
