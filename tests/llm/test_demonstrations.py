"""LUFFY's demonstrations on the LLM backend: each group's first rows are the problem's reference answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from test_train import BACKEND, QUIET

from entropic.experiment import build_trainer


@pytest.mark.parametrize("old_log_probs", ["recompute", "sampler"])
def test_demonstrations_are_verified_reference_answers_with_the_demonstrators_log_probs(make_backend,
                                                                                        old_log_probs: str) -> None:
    backend = make_backend(max_new_tokens=5, off_policy_share=0.5, old_log_probs=old_log_probs)
    rollout = backend.rollout()
    off = rollout.off_policy
    assert torch.equal(off, torch.tensor([True, True, False, False]).repeat(4))
    eos = backend.tokenizer.eos_token_id
    for row in off.nonzero().flatten().tolist():
        length = int(rollout.mask[row].sum())
        tokens = rollout.tokens[row, :length].tolist()
        assert tokens[-1] == eos and rollout.extras["correct"][row] == 1 and rollout.rewards[row] == 1
        prompt = backend.tokenizer.decode(rollout.prompts[row][rollout.prompt_mask[row] > 0], skip_special_tokens=True)
        answer = next(p.answer for p in backend.train_problems if p.prompt == prompt)
        assert backend.tokenizer.decode(tokens[:-1]) == answer
    assert bool((rollout.old_log_probs[off] == 0).all()) and bool((rollout.sample_log_probs[off] == 0).all())
    samples = ~off
    torch.testing.assert_close(rollout.old_log_probs[samples], backend.score(rollout, "none").log_probs[samples],
                               rtol=0, atol=1e-5)


def test_the_luffy_preset_trains_the_llm_with_its_demonstrations(tmp_path: Path) -> None:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*BACKEND, *QUIET, "method=luffy", "trainer.steps=2"])
    build_trainer(cfg, tmp_path).fit(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # 1 demonstration in each group of 4 (round(0.125 x 4)): a share of the tokens, learnt through the shaping
    assert all(0 < row["actor/off_policy_frac"] < 0.75 and 0 < row["actor/off_policy_prob"] < 1 for row in rows)
