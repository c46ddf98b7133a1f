"""Entropy laws: analysis of any run's metrics, and published claims as executable experiments.

Analysis (torch + numpy; works on ``metrics.jsonl`` and on live ``TokenStats``):

- :mod:`~entropic.laws.predictor`: the first-order entropy-change predictor per token (PG and NPG
  forms) and its comparison with the observed change;
- :mod:`~entropic.laws.fit`: ``R = -a exp(H) + b`` with R^2, confidence intervals and the ceiling;
- :mod:`~entropic.laws.quadrants`: the entropy change split by token class (probability x advantage);
- :mod:`~entropic.laws.percentiles`: entropy and pass@k per token-entropy percentile;
- :mod:`~entropic.laws.observer`: all of these as live sensors of a training run;
- :mod:`~entropic.laws.analyse`: what of this a given run directory's log allows.

Claims (``entropic-laws``): :mod:`~entropic.laws.claims` registers each published claim with its
experiment config (``configs/experiment/laws_*.yaml``) and verdict rule; :mod:`~entropic.laws.runner`
runs them through the Hydra config tree and :mod:`~entropic.laws.report` writes the verdicts.
Importing this package registers the ``unlikeliness`` advantage estimator.
"""

from entropic.laws.analyse import analyse_records, analyse_run
from entropic.laws.fit import EntropyRewardFit, fit_entropy_reward
from entropic.laws.observer import LawsObserver
from entropic.laws.percentiles import entropy_percentile_curves, passk_by_entropy_bucket
from entropic.laws.predictor import (
    observed_entropy_change,
    predicted_entropy_change,
    prediction_quality,
    token_entropy_contributions,
    token_kernels,
)
from entropic.laws.quadrants import QUADRANTS, quadrant_entropy_change
from entropic.laws.records import RunRecords
from entropic.laws.stats import Estimate, mean_ci
from entropic.laws.verdict import Check, ClaimResult, check, verdict

__all__ = [
    "QUADRANTS", "Check", "ClaimResult", "EntropyRewardFit", "Estimate", "LawsObserver", "RunRecords",
    "analyse_records", "analyse_run", "check",
    "entropy_percentile_curves", "fit_entropy_reward", "mean_ci", "observed_entropy_change",
    "passk_by_entropy_bucket", "predicted_entropy_change", "prediction_quality", "quadrant_entropy_change",
    "token_entropy_contributions", "token_kernels", "verdict",
]
