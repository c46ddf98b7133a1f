"""Metrics of a policy step, per run.

Token entropy (exact, chunked, estimated with stated bias), its per-run statistics and
histograms, the log-prob/advantage covariance and the entropy-change law, and pass@k.
"""

from entropic.metrics.covariance import logp_advantage_covariance
from entropic.metrics.entropy import chunked_entropy_from_hidden, chunked_entropy_from_logits, entropy_from_logits
from entropic.metrics.entropy_change import (
    exact_entropy_change,
    npg_logit_step,
    pg_logit_step,
    policy_covariance,
    predicted_entropy_change,
    predicted_entropy_change_npg,
    predicted_entropy_change_pg,
)
from entropic.metrics.entropy_estimates import EntropyBounds, sampled_token_entropy, topk_entropy, topk_entropy_bounds
from entropic.metrics.passk import pass_at_k, pass_at_k_from_probability
from entropic.metrics.token_stats import Histogram, entropy_histogram, entropy_summary

__all__ = [
    "EntropyBounds", "Histogram", "chunked_entropy_from_hidden", "chunked_entropy_from_logits",
    "entropy_from_logits", "entropy_histogram", "entropy_summary", "exact_entropy_change",
    "logp_advantage_covariance", "npg_logit_step", "pass_at_k", "pass_at_k_from_probability", "pg_logit_step",
    "policy_covariance", "predicted_entropy_change", "predicted_entropy_change_npg",
    "predicted_entropy_change_pg", "sampled_token_entropy", "topk_entropy", "topk_entropy_bounds",
]
