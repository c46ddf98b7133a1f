"""The warm start: calibrated to the stated entropy and accuracy, cached by config hash."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import entropic.sims.toy_lm.pretrain as pretrain_module
from entropic.sims.toy_lm import ToyLMConfig, cache_key, load_or_pretrain
from entropic.sims.toy_lm.pretrain import CALIBRATION_PROBLEMS, calibrate
from entropic.sims.toy_lm.tasks import Dataset


def test_warm_start_meets_its_targets_and_recalibrates_to_alpha_one(tiny) -> None:
    config = tiny()
    warm = load_or_pretrain(config)
    assert abs(warm.stats["entropy"] - config.init_entropy) < 1e-4
    assert warm.stats["accuracy"] >= config.init_accuracy and warm.stats["steps"] < config.pretrain_steps
    held_out = Dataset.build(config.make_task(), CALIBRATION_PROBLEMS, seed=config.task_seed + 1_000_003)
    again = calibrate(warm.params, config, config.make_task(), held_out)  # alpha is folded into the head
    assert abs(again["alpha"] - 1.0) < 1e-3 and abs(again["accuracy"] - warm.stats["accuracy"]) < 1e-3


def test_cache_is_keyed_by_the_pretraining_fields_only(tiny, warm_cache: Path, monkeypatch) -> None:
    config = tiny()
    first = load_or_pretrain(config)
    assert (warm_cache / "toy_lm" / f"{cache_key(config)}.pt").exists()

    def refuse(_: ToyLMConfig) -> None:
        raise AssertionError("pretrained again instead of loading the cache")

    monkeypatch.setattr(pretrain_module, "pretrain", refuse)
    rl_only = dataclasses.replace(config, lr=0.1, group_size=2, num_prompts=3, seed=9, format_penalty=1.0,
                                  temperature=0.6)
    assert cache_key(rl_only) == cache_key(config)
    second = load_or_pretrain(rl_only)
    assert all(torch.equal(second.params[name], first.params[name]) for name in first.params)
    assert second.stats == first.stats
    for change in (dict(init_entropy=1.0), dict(demo_noise=0.2), dict(n_embd=16), dict(task_seed=1),
                   dict(num_digits=2), dict(max_response_len=9)):
        assert cache_key(dataclasses.replace(config, **change)) != cache_key(config), change


def test_empty_cache_dir_disables_the_cache_and_the_default_follows_the_environment(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    monkeypatch.delenv("ENTROPIC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ToyLMConfig().resolved_cache_dir() == tmp_path / "xdg" / "entropic"
    monkeypatch.setenv("ENTROPIC_CACHE_DIR", str(tmp_path / "mine"))
    assert ToyLMConfig().resolved_cache_dir() == tmp_path / "mine"
    assert ToyLMConfig(cache_dir=str(tmp_path / "here")).resolved_cache_dir() == tmp_path / "here"
    assert ToyLMConfig(cache_dir="").resolved_cache_dir() is None
    config = ToyLMConfig(cache_dir="", num_digits=1, n_embd=16, n_head=2, pretrain_steps=3, init_accuracy=None,
                         init_entropy=None)
    load_or_pretrain(config)
    assert not any(tmp_path.rglob("*.pt"))


@pytest.mark.parametrize("field, value, message", [
    ("task", "division", "one of"), ("n_embd", 30, "divisible by n_head"),
    ("max_response_len", 2, ">= 4"), ("init_entropy", 5.0, "log V"), ("eval_k", [0], "integers >= 1"),
    ("overlong_buffer_len", 9, "in \\[0, max_response_len"), ("temperature", 0.0, "> 0"),
])
def test_config_names_the_bad_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"ToyLMConfig.{field} must be .*{message}"):
        ToyLMConfig(**{field: value})


def test_countdown_eval_k_may_not_exceed_the_samples() -> None:
    with pytest.raises(ValueError, match="each <= eval_samples=4"):
        ToyLMConfig(task="countdown", num_digits=1, num_operands=3, eval_samples=4, eval_k=[1, 8])
