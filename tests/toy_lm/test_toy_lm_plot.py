"""The reward/entropy plot of a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from entropic.sims.toy_lm.plot import load_metrics, main


def test_plot_reads_per_run_series_and_writes_a_png(tmp_path: Path) -> None:
    lines = [{"step": s, "reward/mean": [0.1 * s, 0.2 * s], "entropy/mean": [1.0 - 0.1 * s, None]} for s in range(4)]
    lines[-1].update({"eval/pass@1": [0.5, 0.6], "eval/entropy": [0.6, 0.7]})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    metrics = load_metrics(tmp_path)
    steps, values = metrics["reward/mean"]
    assert steps.tolist() == [0, 1, 2, 3] and values.shape == (4, 2)
    assert np.isnan(metrics["entropy/mean"][1][0, 1]) and metrics["eval/pass@1"][0].tolist() == [3]
    main([str(tmp_path), "--title", "test"])
    png = tmp_path / "reward_entropy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
