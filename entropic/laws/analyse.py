"""The law analyses of any run directory's ``metrics.jsonl`` (an ``entropic-train`` or ``entropic-laws`` run).

What a run logged decides what is computed:

- always: the observed one-step entropy change and ``R = -a exp(H) + b`` per run (batch reward
  ``reward/mean`` against ``entropy/mean``), with the ceiling;
- ``entropy/cov_logp_adv`` (every run): how well the batch covariance sensor, the NPG-form proxy
  ``dH ~ -lr Cov(log pi, A)``, tracks the observed change (correlation and sign; its scale is arbitrary);
- ``laws/dH_pg`` / ``laws/dH_npg`` (runs with :class:`~entropic.laws.observer.LawsObserver`): the
  predictors' correlation, relative error and slope;
- ``laws/dH/<class>``: the entropy change summed by token class;
- ``entropy/p<q>``: the final token-entropy percentiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from entropic.laws.fit import fit_entropy_reward
from entropic.laws.percentiles import entropy_percentile_curves
from entropic.laws.predictor import observed_entropy_change, prediction_quality
from entropic.laws.quadrants import QUADRANTS
from entropic.laws.records import RunRecords


def _per_run(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def analyse_records(records: RunRecords) -> dict:
    """The analyses of :mod:`entropic.laws.analyse` on loaded records; JSON-ready, one value per run."""
    out: dict = {"num_runs": records.num_runs, "steps": int(records.steps.size)}
    observed = observed_entropy_change(records)
    out["observed_dH_mean"] = _per_run(np.nanmean(observed, 0))
    predictors = {"pg": "laws/dH_pg", "npg": "laws/dH_npg", "covariance_sensor": "entropy/cov_logp_adv"}
    for name, key in predictors.items():
        if key in records:
            predicted = -records[key] if name == "covariance_sensor" else records[key]
            quality = prediction_quality(predicted, observed)
            if name == "covariance_sensor":  # a proxy without the step size: only its shape is comparable
                quality = {k: quality[k] for k in ("correlation", "sign_agreement")}
            out[f"predictor_{name}"] = {k: _per_run(v) for k, v in quality.items()}
    fits = []
    for r in range(records.num_runs):
        try:
            fits.append(fit_entropy_reward(records["entropy/mean"][:, r], records["reward/mean"][:, r]).to_dict())
        except ValueError as error:  # too few points or constant entropy
            fits.append({"error": str(error)})
    out["entropy_reward_fit"] = fits
    if all(f"laws/dH/{q}" in records for q in QUADRANTS):
        out["quadrant_dH_sum"] = {q: _per_run(np.nansum(records[f"laws/dH/{q}"], 0)) for q in QUADRANTS}
    curves = entropy_percentile_curves(records)
    if curves:
        out["final_entropy_percentiles"] = {f"p{q:g}": _per_run(c[-1]) for q, c in curves.items()}
    return out


def analyse_run(directory: str | Path) -> dict:
    """:func:`analyse_records` of ``directory/metrics.jsonl``."""
    return analyse_records(RunRecords.load(directory))
