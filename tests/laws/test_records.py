"""metrics.jsonl as [S, R] arrays, and the observed entropy change."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from entropic.laws.predictor import observed_entropy_change, prediction_quality
from entropic.laws.records import RunRecords


def test_lists_scalars_missing_and_null(tmp_path: Path) -> None:
    lines = [{"step": 0, "entropy/mean": [2.0, 2.1], "eval/pass@1": [0.1, None]},
             {"step": 1, "entropy/mean": [1.9, 2.0]},
             {"step": 3, "entropy/mean": [1.5, 1.8], "eval/pass@1": [0.5, 0.6]}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    records = RunRecords.load(tmp_path)
    assert records.num_runs == 2 and records.steps.tolist() == [0, 1, 3]
    assert math.isnan(records["eval/pass@1"][0, 1]) and math.isnan(records["eval/pass@1"][1, 0])
    assert records.final("eval/pass@1").tolist() == [0.5, 0.6]
    change = observed_entropy_change(records)
    assert change[0].tolist() == pytest.approx([-0.1, -0.1])
    assert np.isnan(change[1:]).all()  # a gap in the steps and the last step have no next value
    assert records.select([1])["entropy/mean"][:, 0].tolist() == [2.1, 2.0, 1.8]
    with pytest.raises(KeyError, match="was not logged"):
        records["entropy/nope"]


def test_single_run_scalars_and_windows() -> None:
    records = RunRecords.from_lines([{"step": s, "x": float(s)} for s in range(10)])
    assert records.num_runs == 1
    assert records.window("x", 0.5).tolist() == [7.0]
    assert records.window("x", 0.0, 0.2).tolist() == [0.5]


def test_prediction_quality_of_a_perfect_and_a_scaled_predictor() -> None:
    observed = np.array([[0.1, -0.2], [-0.05, 0.3], [0.2, 0.1], [np.nan, np.nan]])
    perfect = prediction_quality(observed, observed)
    assert perfect["correlation"] == pytest.approx([1.0, 1.0]) and perfect["relative_error"].tolist() == [0, 0]
    half = prediction_quality(observed / 2, observed)
    assert half["slope"] == pytest.approx([2.0, 2.0]) and half["relative_error"] == pytest.approx([0.5, 0.5])
    assert half["sign_agreement"].tolist() == [1.0, 1.0]
