"""The registry of claims: each is an experiment config, the arms run from it, and a verdict rule.

A claim's hypothesis is written once, in the header of ``configs/experiment/<experiment>.yaml``
(the ``# Hypothesis:`` paragraph); its arms are that config plus overrides, run as vectorised
trainers (variants x seeds); its rule (``checks_*.evaluate_*``) turns the runs into checks whose
outcomes give the verdict. ``CLAIMS`` lists them in the order of the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from entropic.laws import checks_control as control
from entropic.laws import checks_learning as learning
from entropic.laws import checks_methods as methods
from entropic.laws.runner import Arm, ArmRun, config_exists, hypothesis, run_arm
from entropic.laws.verdict import ClaimResult

log = logging.getLogger(__name__)

SEEDS = 5
"""Seeds per variant in every ablation."""


def ablation(knob: str, values: Sequence[float], seeds: int = SEEDS) -> tuple[str, ...]:
    """Overrides running ``len(values)`` variants x ``seeds`` seeds: a per-run list of ``knob``,
    ``num_runs`` and ``run_seeds`` (``0 .. seeds-1`` in every variant: common random numbers)."""
    per_run = [v for v in values for _ in range(seeds)]
    return (f"{knob}=[{','.join(f'{v:g}' for v in per_run)}]", f"num_runs={len(per_run)}",
            f"run_seeds=[{','.join(str(s) for _ in values for s in range(seeds))}]")


@dataclass(frozen=True)
class Claim:
    """A published claim as an executable experiment.

    Attributes
    ----------
    name : str
        Identifier (``--claims`` value, output sub-directory).
    title : str
        One line for the verdict table.
    experiment : str, optional
        ``configs/experiment/<experiment>.yaml``; ``None`` when the claim cannot be set up yet.
    arms : tuple[Arm, ...]
        Trainers run from the experiment config.
    evaluate : callable
        ``{arm name: ArmRun} -> ClaimResult``.
    """

    name: str
    title: str
    experiment: str | None
    arms: tuple[Arm, ...]
    evaluate: Callable[[dict[str, ArmRun]], ClaimResult]

    @property
    def hypothesis(self) -> str:
        return hypothesis(self.experiment) if self.experiment else ""


CLIP_COV_RATIOS, KL_COV_RATIOS = (2e-4, 2e-2, 2e-1), (2e-3, 2e-2, 2e-1)
"""Default ratio first; with 512 tokens a batch, 2e-4 and 2e-3 both select one token, 2e-2 ten, 0.2 a hundred."""
SKYWORK_DELTAS = (0.002, 0.02, 0.2)
KL_RESET_EVERY = 100
"""ProRL's reference resets in claim 10: every 100 steps (2 resets in a quick run, 9 in a full one)."""

CLAIMS: tuple[Claim, ...] = (
    Claim("covariance_law", "First-order entropy change predicts the observed change", "laws_covariance_law",
          (Arm("main", variants=("lr=1", "lr=4", "lr=16", "lr=64"), sensors=True, quick=("trainer.steps=100",)),),
          learning.evaluate_covariance_law),
    Claim("entropy_performance", "R = -a exp(H) + b, and its ceiling predicts the final reward",
          "laws_entropy_performance", (Arm("main"),),  # "the first third" needs the whole run, quick or not
          learning.evaluate_entropy_performance),
    Claim("pos_neg_samples", "PSR collapses entropy, NSR keeps it and pass@k, W-REINFORCE in between",
          "laws_pos_neg_samples", (Arm("main", variants=("psr", "nsr", "w_reinforce"), quick=("trainer.steps=400",)),),
          learning.evaluate_pos_neg_samples),
    Claim("clip_higher", "Clip-Higher (0.28 vs 0.2) keeps entropy higher at similar reward", "laws_clip_higher",
          (Arm("main", variants=("eps_high_0.2", "eps_high_0.28"), quick=("trainer.steps=300",)),
           Arm("on_policy", overrides=("trainer.ppo_epochs=1",), variants=("eps_high_0.2", "eps_high_0.28"),
               quick=("trainer.steps=100",))),
          learning.evaluate_clip_higher),
    Claim("cov_methods", "Clip-Cov and KL-Cov keep entropy higher than GRPO", "laws_cov_methods",
          (Arm("grpo", quick=("trainer.steps=200",)),
           Arm("clip_cov", ("method=clip_cov", *ablation("control.clip_cov_ratio", CLIP_COV_RATIOS)),
               variants=tuple(f"ratio={r:g}" for r in CLIP_COV_RATIOS), quick=("trainer.steps=200",)),
           Arm("kl_cov", ("method=kl_cov", *ablation("control.kl_cov_ratio", KL_COV_RATIOS)),
               variants=tuple(f"ratio={r:g}" for r in KL_COV_RATIOS), quick=("trainer.steps=200",))),
          learning.evaluate_cov_methods),
    Claim("top_entropy", "Updating only the top-20% entropy tokens matches full updates", "laws_top_entropy",
          (Arm("main", variants=("rho_1.0", "rho_0.2"), quick=("trainer.steps=300", "backend.num_prompts=32")),
           Arm("toy_lm", variants=("rho_1.0", "rho_0.2"), experiment="laws_top_entropy_toy_lm", full_only=True,
               requires=("backend/toy_lm",))),
          learning.evaluate_top_entropy),
    Claim("fixed_bonus", "A fixed entropy bonus is fragile; the adaptive coefficient is stable across its range",
          "laws_fixed_bonus",
          (Arm("fixed", variants=("c=0.01", "c=0.1", "c=1"), quick=("trainer.steps=400",)),
           Arm("adaptive", ("controller=skywork_trl", "controller.law.target=1.5", "control.entropy_coeff=0.0",
                            *ablation("controller.law.delta", SKYWORK_DELTAS)),
               variants=tuple(f"delta={d:g}" for d in SKYWORK_DELTAS), quick=("trainer.steps=400",))),
          control.evaluate_fixed_bonus),
    Claim("pi_control", "A PI controller holds the target entropy and beats a fixed bonus on pass@k",
          "laws_pi_control",
          (Arm("pi", quick=("trainer.steps=400",)),
           Arm("fixed", ("~controller", *ablation("control.entropy_coeff", (0.01, 0.03, 0.1, 0.3))),
               variants=("c=0.01", "c=0.03", "c=0.1", "c=0.3"), quick=("trainer.steps=400",))),
          control.evaluate_pi_control),
    Claim("quadrants", "High-probability positive-advantage tokens account for most of the entropy drop",
          "laws_quadrants", (Arm("main", sensors=True, quick=("trainer.steps=200",)),),
          learning.evaluate_quadrants),
    Claim("kl_penalty", "A KL penalty slows the collapse at a reward cost; reference resets recover the reward",
          "laws_kl_penalty",
          (Arm("main", variants=("beta=0", "beta=0.01", "beta=0.1", "beta=1"), quick=("trainer.steps=300",)),
           Arm("reset", (*ablation("control.kl_loss_coef", (1.0,)),  # the strongest beta of "main"
                         f"trainer.reference_reset_every={KL_RESET_EVERY}", "trainer.reference_reset_optimizer=true"),
               quick=("trainer.steps=300",))),
          learning.evaluate_kl_penalty),
    Claim("dr_grpo_length", "Dr.GRPO removes GRPO's length bias", "laws_dr_grpo_length",
          (Arm("grpo", sensors=True, states="token", full_only=True, requires=("backend/toy_lm",)),
           Arm("dr_grpo", ("method=dr_grpo", "objective.loss_agg_mode=seq-mean-token-sum-norm"), sensors=True,
               states="token", full_only=True, requires=("backend/toy_lm",))),
          learning.evaluate_dr_grpo_length),
    Claim("unlikeliness", "The unlikeliness reward raises pass@k at large k", "laws_unlikeliness",
          (Arm("grpo", quick=("trainer.steps=400",)),
           Arm("unlikeliness", ("advantage.adv_estimator=unlikeliness",), quick=("trainer.steps=400",))),
          control.evaluate_unlikeliness),
    Claim("reweighting_authority", "Reweighting lowers entropy at will but raises it only while negatives exist",
          "laws_reweighting_authority", (Arm("main", sensors=True, quick=("trainer.steps=300",)),),
          control.evaluate_reweighting_authority),
    Claim("nsr_prior", "An NSR step redistributes mass in proportion to the prior (first order, logit space)",
          "laws_nsr_prior", (Arm("main", variants=("lr=1", "lr=4", "lr=16", "lr=64", "lr=256"),
                                 procedure="one_step"),),
          control.evaluate_nsr_prior),
    Claim("seed_grpo", "SEED-GRPO's updates are conservative on uncertain prompts", "laws_seed_grpo",
          (Arm("grpo", sensors=True, quick=("trainer.steps=300",)),
           Arm("seed_grpo", ("method=seed_grpo",), sensors=True, quick=("trainer.steps=300",))),
          methods.evaluate_seed_grpo),
    Claim("steer", "STEER keeps the per-step entropy change in a band", "laws_steer",
          (Arm("grpo", quick=("trainer.steps=300",)),
           Arm("steer", ("method=steer",), quick=("trainer.steps=300",))),
          methods.evaluate_steer),
    Claim("luffy", "LUFFY's off-policy guidance keeps entropy above on-policy GRPO", "laws_luffy",
          (Arm("grpo", quick=("trainer.steps=300",)),
           Arm("luffy", ("method=luffy",), quick=("trainer.steps=300",))),
          methods.evaluate_luffy),
    Claim("par", "Positive-Advantage Reweighting keeps entropy higher the lower the positive weight", "laws_par",
          (Arm("main", ablation("control.pos_weight", methods.PAR_WEIGHTS),
               variants=tuple(f"lambda={w:g}" for w in methods.PAR_WEIGHTS), quick=("trainer.steps=300",)),),
          methods.evaluate_par),
    Claim("dynamic_sampling", "DAPO's dynamic sampling keeps entropy stable", "laws_dynamic_sampling",
          (Arm("dapo", quick=("trainer.steps=300",)),
           Arm("dynamic", ("method=dapo_dynamic",), quick=("trainer.steps=300",)),
           Arm("minirl", ("method=minirl_filter",), quick=("trainer.steps=300",))),
          methods.evaluate_dynamic_sampling),
    Claim("nsa", "BCPG-NSA's credit on verified steps of wrong responses learns faster than GRPO", "laws_nsa",
          (Arm("grpo", quick=("trainer.steps=150",), requires=("backend/toy_lm",)),
           Arm("nsa", ("method=nsa",), quick=("trainer.steps=150",), requires=("backend/toy_lm",))),
          methods.evaluate_nsa),
    Claim("sent", "SENT's curriculum slows the collapse", "laws_sent",
          (Arm("flat", ("trainer.curriculum.enable=false",), quick=("trainer.steps=300",)),
           Arm("curriculum", quick=("trainer.steps=300", "trainer.curriculum.stage_steps=150"))),
          methods.evaluate_sent),
    Claim("vapo", "VAPO's learned value keeps entropy stable", "laws_vapo",
          (Arm("grpo", quick=("trainer.steps=300",)),
           Arm("vapo", ("method=vapo",), quick=("trainer.steps=300",))),
          methods.evaluate_vapo),
)


def get_claim(name: str) -> Claim:
    """The claim called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    for claim in CLAIMS:
        if claim.name == name:
            return claim
    raise ValueError(f"unknown claim {name!r}; claims: {[c.name for c in CLAIMS]}")


@dataclass
class ClaimRun:
    """A claim's result, with the arms that ran and the time they took."""

    claim: Claim
    result: ClaimResult
    runs: dict[str, ArmRun]
    seconds: float


def run_claim(claim: Claim, output_dir: str | Path, quick: bool = False, extra: Sequence[str] = ()) -> ClaimRun:
    """Run every available arm of ``claim`` under ``output_dir/<claim>/<arm>`` and evaluate it.

    ``extra`` overrides are added to every arm (tests use them to shrink or break a setting).
    """
    started = time.perf_counter()
    runs: dict[str, ArmRun] = {}
    skipped = []
    for arm in claim.arms:
        missing = [entry for entry in arm.requires if not config_exists(entry)]
        if missing:
            skipped.append(f"arm {arm.name} pending: {', '.join(missing)} not in the config tree")
            continue
        if quick and arm.full_only:
            skipped.append(f"arm {arm.name} runs in the full mode only (entropic-laws without --quick)")
            continue
        log.info("claim %s: arm %s", claim.name, arm.name)
        runs[arm.name] = run_arm(arm.experiment or claim.experiment, arm, Path(output_dir) / claim.name / arm.name,
                                 quick, extra)
    result = claim.evaluate(runs)
    result.notes.extend(skipped)
    return ClaimRun(claim, result, runs, time.perf_counter() - started)
