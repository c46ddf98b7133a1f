"""The composed objective: per-run independence, row weights, declared knobs, config errors."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_from_runs, batch_of, control_of_run, logits_run, random_batch

from entropic.control import Control
from entropic.objectives import AGG_MODES, POLICY_LOSSES, Objective, ObjectiveConfig, PolicyBatch

ALL_MODIFIERS = ["sample_weight", "top_entropy", "off_policy_mask", "steer"]
ALL_TERMS = ["entropy", "kl", "unbiased_kl", "entropic"]
RUN_SHAPES = [(2, 3), (3, 5), (4, 2)]  # (rows, T) of each run; batched T = 5
T_MAX = 5

PER_RUN = Control(
    entropy_coeff=torch.tensor([0.0, 0.1, 0.5], dtype=torch.float64),
    clip_ratio_low=torch.tensor([0.2, 0.1, 0.3], dtype=torch.float64),
    clip_ratio_high=torch.tensor([0.2, 0.28, 0.1], dtype=torch.float64),
    clip_ratio_c=torch.tensor([3.0, 1.2, 10.0], dtype=torch.float64),
    top_entropy_quantile=torch.tensor([0.2, 0.5, 1.0], dtype=torch.float64),
    pos_weight=torch.tensor([0.1, 1.0, 0.5], dtype=torch.float64),
    neg_weight=torch.tensor([1.0, 0.3, 2.0], dtype=torch.float64),
    kl_loss_coef=torch.tensor([0.0, 0.01, 0.2], dtype=torch.float64),
    entropic_alpha=torch.tensor([0.3, -0.6, 0.0], dtype=torch.float64),
    high_prob_thresh=torch.tensor([0.95, 0.9, 0.5], dtype=torch.float64),
    off_policy_mask_threshold=torch.tensor([0.05, math.inf, -0.1], dtype=torch.float64),
    clip_cov_ratio=torch.tensor([0.1, 0.3, 2e-4], dtype=torch.float64),
    clip_cov_lb=torch.tensor([-1.0, 0.0, -5.0], dtype=torch.float64),
    clip_cov_ub=torch.tensor([1.0, 5.0, 5.0], dtype=torch.float64),
    kl_cov_ratio=torch.tensor([0.2, 2e-4, 0.5], dtype=torch.float64),
    ppo_kl_coef=torch.tensor([0.1, 1.0, 0.5], dtype=torch.float64),
)


def _runs() -> list[dict[str, torch.Tensor]]:
    return [logits_run(B, T, V=6, seed=10 + r) for r, (B, T) in enumerate(RUN_SHAPES)]


def _generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def _assert_same(a: torch.Tensor, b: torch.Tensor, exact: bool) -> None:
    if exact:
        assert torch.equal(a, b), (a, b)
    else:
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("full", [False, True], ids=["plain", "all-parts"])
@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("policy_loss", POLICY_LOSSES.names())
@pytest.mark.parametrize("pad_alone", [True, False], ids=["same-T", "own-T"])
def test_batched_run_equals_run_alone(policy_loss: str, mode: str, full: bool, pad_alone: bool) -> None:
    cfg = ObjectiveConfig(policy_loss=policy_loss, loss_agg_mode=mode,
                          loss_scale_factor=None if pad_alone else 4.0,
                          modifiers=ALL_MODIFIERS if full else [], terms=ALL_TERMS if full else [])
    objective = Objective(cfg)
    runs = _runs()
    batch = batch_from_runs(runs, T_MAX, generators=_generators([100, 101, 102]))
    loss, metrics = objective(batch, PER_RUN)
    assert loss.shape == (3,)
    grads = torch.autograd.grad(loss.sum(), [r["logits"] for r in runs])
    for r, run in enumerate(runs):
        T_alone = T_MAX if pad_alone else run["mask"].shape[1]
        alone = batch_from_runs([run], T_alone, generators=_generators([100 + r]))
        loss_r, metrics_r = objective(alone, control_of_run(PER_RUN, r))
        (grad_r,) = torch.autograd.grad(loss_r.sum(), run["logits"])
        _assert_same(loss[r], loss_r[0], exact=pad_alone)
        _assert_same(grads[r], grad_r, exact=pad_alone)
        assert set(metrics) == set(metrics_r)
        for key in metrics:
            _assert_same(metrics[key][r], metrics_r[key][0], exact=pad_alone)


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("policy_loss", POLICY_LOSSES.names())
def test_run_without_valid_tokens_gets_zero_loss_and_gradient(policy_loss: str, mode: str) -> None:
    runs = _runs()
    runs[1]["mask"] = torch.zeros_like(runs[1]["mask"])
    runs[1]["adv"] = torch.zeros_like(runs[1]["adv"])
    cfg = ObjectiveConfig(policy_loss=policy_loss, loss_agg_mode=mode, modifiers=ALL_MODIFIERS, terms=ALL_TERMS)
    loss, metrics = Objective(cfg)(batch_from_runs(runs, T_MAX, _generators([1, 2, 3])), PER_RUN)
    grads = torch.autograd.grad(loss.sum(), [r["logits"] for r in runs])
    assert loss[1] == 0.0
    assert torch.equal(grads[1], torch.zeros_like(grads[1]))
    assert all(torch.isfinite(g).all() for g in grads)
    assert all(torch.isfinite(v).all() for v in metrics.values())


def test_per_run_batch_really_differs_between_runs() -> None:
    # guard against a vacuous identity: the same run content under another run's knobs changes the loss
    run = logits_run(3, 4, V=6, seed=0)
    objective = Objective(ObjectiveConfig(modifiers=ALL_MODIFIERS, terms=ALL_TERMS))
    batch = batch_from_runs([run, run, run], 4)
    loss, _ = objective(batch, PER_RUN)
    assert len(set(loss.tolist())) == 3


def test_interleaved_rows_equal_contiguous_rows() -> None:
    runs = _runs()
    objective = Objective(ObjectiveConfig(modifiers=ALL_MODIFIERS, terms=ALL_TERMS))
    batch = batch_from_runs(runs, T_MAX)
    perm = torch.randperm(batch.run.shape[0], generator=torch.Generator().manual_seed(0))
    fields = {k: getattr(batch, k) for k in ("log_probs", "old_log_probs", "advantages", "mask", "run",
                                             "entropy", "ref_log_probs", "sample_log_probs")}
    shuffled = PolicyBatch(**{k: v[perm] for k, v in fields.items()}, num_runs=3)
    torch.testing.assert_close(objective(shuffled, PER_RUN)[0], objective(batch, PER_RUN)[0])


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("policy_loss", ["vanilla", "gspo", "gpg"])
def test_integer_row_weights_equal_repeated_rows(policy_loss: str, mode: str) -> None:
    batch = random_batch(5, 4, 7, token_adv=True)
    counts = torch.tensor([2, 1, 3, 0, 1])
    objective = Objective(ObjectiveConfig(policy_loss=policy_loss, loss_agg_mode=mode, terms=["kl"]))
    weighted = PolicyBatch(log_probs=batch.log_probs, old_log_probs=batch.old_log_probs,
                           advantages=batch.advantages, mask=batch.mask, run=batch.run,
                           weights=counts.double(), ref_log_probs=batch.ref_log_probs)

    def rep(x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(counts, 0)

    repeated = batch_of(rep(batch.log_probs), rep(batch.old_log_probs), rep(batch.advantages), rep(batch.mask),
                        ref_log_probs=rep(batch.ref_log_probs))
    loss_w, metrics_w = objective(weighted, Control())
    loss_r, metrics_r = objective(repeated, Control())
    torch.testing.assert_close(loss_w, loss_r)
    (grad_w,) = torch.autograd.grad(loss_w.sum(), batch.log_probs)
    (grad_r,) = torch.autograd.grad(loss_r.sum(), batch.log_probs)
    torch.testing.assert_close(grad_w, grad_r)
    for key in metrics_w:
        torch.testing.assert_close(metrics_w[key], metrics_r[key])


@pytest.mark.parametrize(("cfg", "reads", "ratio_knobs"), [
    (ObjectiveConfig(), {"clip_ratio_low", "clip_ratio_high", "clip_ratio_c"},
     {"clip_ratio_low", "clip_ratio_high", "clip_ratio_c"}),
    (ObjectiveConfig(policy_loss="clip_cov"),
     {"clip_ratio_low", "clip_ratio_high", "clip_cov_ratio", "clip_cov_lb", "clip_cov_ub"},
     {"clip_ratio_low", "clip_ratio_high"}),
    (ObjectiveConfig(policy_loss="kl_cov"), {"kl_cov_ratio", "ppo_kl_coef"}, {"ppo_kl_coef"}),
    (ObjectiveConfig(policy_loss="gspo"), {"clip_ratio_low", "clip_ratio_high"}, {"clip_ratio_low", "clip_ratio_high"}),
    (ObjectiveConfig(policy_loss="gpg"), set(), set()),
    (ObjectiveConfig(policy_loss="reinforce", modifiers=ALL_MODIFIERS),
     {"pos_weight", "neg_weight", "top_entropy_quantile", "off_policy_mask_threshold"}, set()),
    (ObjectiveConfig(policy_loss="gpg", terms=ALL_TERMS),
     {"entropy_coeff", "kl_loss_coef", "entropic_alpha", "high_prob_thresh"}, set()),
])
def test_reads_and_ratio_knobs(cfg: ObjectiveConfig, reads: set[str], ratio_knobs: set[str]) -> None:
    objective = Objective(cfg)
    assert objective.reads == frozenset(reads)
    assert objective.ratio_knobs == frozenset(ratio_knobs)


def test_needs_entropy() -> None:
    assert not Objective().needs_entropy
    assert Objective(ObjectiveConfig(terms=["entropy"])).needs_entropy
    assert Objective(ObjectiveConfig(modifiers=["top_entropy"])).needs_entropy


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("policy_loss", "ppo", "vanilla"),
    ("modifiers", ["sample_weights"], "sample_weight"),
    ("terms", ["entropy_bonus"], "entropic"),
    ("kl_loss_type", "kl3", "low_var_kl"),
    ("loss_agg_mode", "token_mean", "seq-mean-token-mean"),
])
def test_unknown_names_raise_with_field_and_allowed_values(field: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        ObjectiveConfig(**{field: value})
    assert allowed in str(info.value)


@pytest.mark.parametrize(("changes", "match"), [
    ({"terms": ["kl", "kl"]}, "terms"),
    ({"modifiers": ["top_entropy", "top_entropy"]}, "modifiers"),
    ({"loss_scale_factor": 0.0}, "loss_scale_factor"),
    ({"loss_scale_factor": -2.0}, "loss_scale_factor"),
])
def test_other_config_errors(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ObjectiveConfig(**changes)


@pytest.mark.parametrize("field", ["old_log_probs", "advantages", "mask", "entropy", "ref_log_probs",
                                   "sample_log_probs"])
def test_policy_batch_token_shape_mismatch_names_field(field: str) -> None:
    good = {"log_probs": torch.zeros(2, 3), "old_log_probs": torch.zeros(2, 3), "advantages": torch.zeros(2, 3),
            "mask": torch.ones(2, 3), "run": torch.zeros(2, dtype=torch.long)}
    with pytest.raises(ValueError, match=f"PolicyBatch.{field}"):
        PolicyBatch(**{**good, field: torch.zeros(2, 4)})


@pytest.mark.parametrize(("field", "value"), [("run", torch.zeros(3, dtype=torch.long)), ("weights", torch.ones(1))])
def test_policy_batch_row_shape_mismatch_names_field(field: str, value: torch.Tensor) -> None:
    good = {"log_probs": torch.zeros(2, 3), "old_log_probs": torch.zeros(2, 3), "advantages": torch.zeros(2, 3),
            "mask": torch.ones(2, 3), "run": torch.zeros(2, dtype=torch.long)}
    with pytest.raises(ValueError, match=f"PolicyBatch.{field}"):
        PolicyBatch(**{**good, field: value})


def test_policy_batch_generator_count() -> None:
    with pytest.raises(ValueError, match="generators"):
        PolicyBatch(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3),
                    torch.tensor([0, 1]), num_runs=2, generators=[torch.Generator()])


def test_control_runs_must_match_batch_runs() -> None:
    batch = batch_from_runs(_runs(), T_MAX)
    with pytest.raises(ValueError, match="runs"):
        Objective()(batch, Control(clip_ratio_high=torch.tensor([0.2, 0.28])))


def test_metrics_are_per_run_and_detached() -> None:
    batch = batch_from_runs(_runs(), T_MAX)
    loss, metrics = Objective(ObjectiveConfig(modifiers=ALL_MODIFIERS, terms=ALL_TERMS))(batch, PER_RUN)
    assert loss.requires_grad
    for key, value in metrics.items():
        assert value.shape == (3,), key
        assert not value.requires_grad, key
    torch.testing.assert_close(metrics["actor/loss"], loss.detach())


@pytest.mark.parametrize("knob", [name for name, value in PER_RUN.to_dict().items() if isinstance(value, torch.Tensor)])
def test_one_per_run_knob_among_float_knobs(knob: str) -> None:
    """A single per-run tensor mixed with float knobs: run r gets exactly what the float value gives it."""
    objective = Objective(ObjectiveConfig(modifiers=ALL_MODIFIERS, terms=ALL_TERMS))
    per_run_value = getattr(PER_RUN, knob)
    others = {"clip_cov_lb": -10.0} if knob == "clip_cov_ub" else {}  # keep lb < ub for every run
    batch = batch_from_runs(_runs(), T_MAX, generators=_generators([100, 101, 102]))
    loss, _ = objective(batch, Control(**{knob: per_run_value}, **others))
    for r in range(3):
        batch = batch_from_runs(_runs(), T_MAX, generators=_generators([100, 101, 102]))
        loss_float, _ = objective(batch, Control(**{knob: float(per_run_value[r])}, **others))
        torch.testing.assert_close(loss[r], loss_float[r], rtol=0, atol=1e-12)
