"""How each entropic method reaches verl 0.9.1: natively, through the adapter, or not at all.

*Native*: verl has the method under the same name with the same formula (its own implementation runs;
``tests/llm/test_verl_*`` check that entropic's equals it). *Adapter*: entropic's implementation runs
inside verl, registered under ``entropic_<name>`` (advantage estimators, policy losses) or in the
whole-loss hook of the ``entropic`` trainer (modifiers, terms verl lacks, controllers). *No route*: the
method needs what verl does not hand to the place it would run.
"""

from __future__ import annotations

PREFIX = "entropic_"
"""Prefix of entropic's names in verl's registries (``entropic_vanilla``, ``entropic_grpo``)."""
TRAINER_MODE = "entropic"
"""Name of entropic's trainer in verl's trainer registry (``trainer.v1.trainer_mode``)."""
NATIVE_POLICY_LOSSES = ("vanilla", "clip_cov", "kl_cov", "gspo", "gpg")
"""entropic policy losses verl registers under the same name (entropic's ``reinforce`` is verl's ``gpg``)."""
NATIVE_LOSS_NAME = {"reinforce": "gpg"}
"""entropic policy losses verl has under another name."""
NATIVE_TERMS = ("entropy", "kl")
"""Terms verl's ``ppo_loss`` adds itself (``entropy_coeff``; ``use_kl_loss`` with ``kl_loss_coef``)."""
KL_TERMS = ("kl", "unbiased_kl")
"""Terms that read the reference log-probs, which verl computes only with ``actor.use_kl_loss``."""
NATIVE_ADV_ESTIMATORS = ("grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "opo", "reinforce_plus_plus",
                         "reinforce_plus_plus_baseline", "gpg")
"""entropic advantage estimators verl registers under the same name (``dr_grpo`` is ``grpo`` without the std)."""
ADAPTER_ADV_ESTIMATORS = (*NATIVE_ADV_ESTIMATORS, "reinforce_pm1")
"""Estimators registered as ``entropic_<name>``: those that read only what verl passes an estimator
(token rewards, the response mask, the prompt ids, ``algorithm.norm_adv_by_std_in_grpo`` and ``gamma``)."""
NO_ROUTE_ADV_ESTIMATORS = {
    "unlikeliness": "ranks each group's responses by sequence log-likelihood, and verl passes an advantage "
                    "estimator no log-probs",
    "seed_grpo": "reads each response's parsed answer (semantic entropy), and verl passes an advantage estimator "
                 "only token rewards, the response mask and the prompt ids",
    "gae": "reads the values of entropic's critic (a backend's value head, trained by entropic's loop), which do not "
           "exist in verl; verl's own gae (algorithm.adv_estimator=gae with its critic worker, trainer.critic_warmup "
           "for value pretraining) has one lambda, algorithm.lam, not VAPO's decoupled and length-adaptive ones",
}
"""Estimators verl cannot run, and why."""
NO_ROUTE_TERMS = {
    "pos_lm": "needs each response's verdict (the correct responses' NLL, VAPO), and verl hands the actor's loss "
              "no verdicts",
}
"""Objective terms verl cannot run, and why."""
FEEDBACK_SENSORS = {"entropy/mean": "actor/entropy"}
"""entropic sensor -> the per-step verl metric it is read from before the actor update (under
``loss_agg_mode=token-mean``, verl's ``actor/entropy`` is the batch's token-mean entropy)."""
