"""BanditConfig validation: every bad value raises ValueError naming the field and what is allowed."""

from __future__ import annotations

import math

import pytest
import torch

from entropic import memory
from entropic.sims import BanditConfig, SoftmaxBanditBackend

BAD_VALUES = [
    ("num_prompts", 0, ">= 1"),
    ("num_arms", 1, ">= 2"),
    ("num_correct", 0, "in [1, num_arms=32)"),
    ("num_correct", 32, "in [1, num_arms=32)"),
    ("group_size", 0, ">= 1"),
    ("seq_len", 0, ">= 1"),
    ("rank", 0, ">= 1"),
    ("mode", "greedy", "one of ['sampled', 'exact']"),
    ("parameterization", "mlp", "one of ['tabular', 'low_rank', 'features']"),
    ("optimizer", "rmsprop", "one of ['sgd', 'adam']"),
    ("dtype", "float16", "one of ['float32', 'float64']"),
    ("init_entropy", 0.0, "in (0, log num_arms"),
    ("init_entropy", math.log(32), "in (0, log num_arms"),
    ("init_accuracy", 1.0, "in (0, 1)"),
    ("difficulty_spread", -0.5, ">= 0"),
    ("calibration_tol", 0.1, "in (0, 0.01]"),
    ("reward_correct", 0.0, "in (0, 1]"),
    ("reward_wrong", 1.0, "in [0, reward_correct=1.0)"),
    ("lr", 0.0, "> 0"),
    ("adam_beta1", 1.0, "in [0, 1)"),
    ("adam_eps", 0.0, "> 0"),
    ("max_grad_norm", -1.0, "> 0 or null"),
    ("eval_k", [], "a non-empty list"),
    ("eval_k", [1, 0], "a non-empty list of integers >= 1"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD_VALUES, ids=[f"{n}={v}" for n, v, _ in BAD_VALUES])
def test_bad_value_names_field_and_allowed_values(name: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError, match=rf"BanditConfig\.{name} must be") as info:
        BanditConfig(**{name: value})
    assert allowed in str(info.value)


def test_exact_mode_refuses_too_many_enumerated_responses() -> None:
    with pytest.raises(ValueError, match=r"BanditConfig\.seq_len .*num_arms \*\* seq_len"):
        BanditConfig(mode="exact", num_arms=32, seq_len=4)
    BanditConfig(mode="sampled", num_arms=32, seq_len=4)


def test_unreachable_initial_entropy_names_the_field() -> None:
    # at accuracy 0.1 the prior family tops out near h(0.1) + 0.1 log 8 + 0.9 log 24 = 3.39 nats
    with pytest.raises(ValueError, match=r"BanditConfig\.init_entropy must be below"):
        SoftmaxBanditBackend(BanditConfig(init_entropy=3.44, difficulty_spread=0.0))


def test_backend_checks_per_run_arguments() -> None:
    config = BanditConfig(num_prompts=2, num_arms=4, num_correct=1, init_entropy=1.0)
    with pytest.raises(ValueError, match="lr must be a number or have one entry per run"):
        SoftmaxBanditBackend(config, num_runs=3, lr=torch.ones(2))
    with pytest.raises(ValueError, match="seeds must be a number or have one entry per run"):
        SoftmaxBanditBackend(config, num_runs=3, seeds=[1, 2])
    with pytest.raises(ValueError, match="lr must be > 0"):
        SoftmaxBanditBackend(config, num_runs=2, lr=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="num_runs must be >= 1"):
        SoftmaxBanditBackend(config, num_runs=0)


def test_structured_config_round_trip() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    schema = omegaconf.OmegaConf.structured(BanditConfig)
    merged = omegaconf.OmegaConf.merge(schema, {"num_arms": 16, "eval_k": [1, 4]})
    config = omegaconf.OmegaConf.to_object(merged)
    assert isinstance(config, BanditConfig)
    assert (config.num_arms, config.eval_k) == (16, [1, 4])


def test_learning_rate_can_be_reassigned_per_run() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(num_prompts=2, num_arms=4, num_correct=1, init_entropy=1.0),
                                   num_runs=3)
    assert torch.equal(backend.lr, torch.full((3,), 32.0))
    backend.lr = [1.0, 2.0, 3.0]
    assert torch.equal(backend.lr, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="lr must be > 0 and finite for every run"):
        backend.lr = 0.0
    with pytest.raises(ValueError, match=r"lr must be > 0 and finite for every run, got \[1.0, inf, 1.0\]"):
        backend.lr = [1.0, float("inf"), 1.0]  # would diverge at the first step


def test_backend_config_file_builds_the_backend_with_per_run_learning_rates() -> None:
    hydra = pytest.importorskip("hydra")
    from hydra.utils import instantiate

    with hydra.initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = hydra.compose(config_name="backend/bandit",
                            overrides=["backend.num_arms=16", "backend.num_correct=4", "backend.lr=[1.0,2.0,4.0]"])
    backend = instantiate(cfg.backend, num_runs=3, seeds=[7, 8, 9])
    assert isinstance(backend, SoftmaxBanditBackend)
    assert backend.config == BanditConfig(num_arms=16, num_correct=4)  # every default of the file is the dataclass's
    assert torch.equal(backend.lr, torch.tensor([1.0, 2.0, 4.0])) and backend.seeds.tolist() == [7, 8, 9]


def test_memory_estimate_counts_the_logits_and_the_rows_of_a_step() -> None:
    sampled = BanditConfig(num_prompts=4, num_arms=6, num_correct=2, group_size=3, seq_len=2, init_entropy=1.0)
    assert sampled.memory_estimate(5) == 4 * (4 * 5 * 4 * 2 * 6 + 3 * (5 * 4 * 3) * 2 * 6)
    exact = BanditConfig(num_prompts=4, num_arms=6, num_correct=2, seq_len=2, init_entropy=1.0, mode="exact",
                         reward_correct=0.9, dtype="float64")
    assert exact.memory_estimate(1) == 8 * (4 * 4 * 2 * 6 + 3 * (4 * 36 * 2) * 2 * 6)  # 36 responses, twice


def test_a_problem_larger_than_memory_is_refused_before_allocation() -> None:
    with pytest.raises(ValueError, match=r"num_runs=1000000 x num_prompts=64 x group_size=8 responses x num_arms=32 "
                                         r"\(sampled mode, float32\) needs about 213.6 GiB, more than the .* GiB of "
                                         r"memory available; lower num_runs"):
        SoftmaxBanditBackend(BanditConfig(), num_runs=1_000_000)


def test_the_memory_check_compares_with_what_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    config = BanditConfig(num_prompts=8, group_size=4)
    monkeypatch.setattr(memory, "available_bytes", lambda: config.memory_estimate(3) - 1)
    with pytest.raises(ValueError, match="needs about"):
        SoftmaxBanditBackend(config, num_runs=3)
    monkeypatch.setattr(memory, "available_bytes", lambda: config.memory_estimate(3))
    assert SoftmaxBanditBackend(config, num_runs=3).num_runs == 3
