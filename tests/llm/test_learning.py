"""Slow: the tiny LLM learns under GRPO, and a PI law holds its entropy above where GRPO lets it fall."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "llm_learning.py"


@pytest.mark.slow
def test_grpo_learns_and_the_pi_law_holds_the_entropy_in_four_of_five_seeds(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("llm_learning", BENCHMARK)
    learning = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(learning)
    result = learning.run([0, 1, 2, 3, 4], jobs=2, directory=tmp_path)
    assert result["grpo_passes"] >= 4, result["grpo"]
    assert result["setpoint_over_grpo_end"] >= 1.3
    assert result["pi_passes"] >= 4, result["pi"]
