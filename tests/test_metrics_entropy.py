"""Exact and chunked token entropy against closed forms, scipy, verl's two-pass formula and unchunked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

import entropic.metrics.entropy as entropy_module
from entropic.metrics import chunked_entropy_from_hidden, chunked_entropy_from_logits, entropy_from_logits


def _random_logits(*shape: int, scale: float = 3.0, seed: int = 0, dtype: torch.dtype = torch.float64,
                   requires_grad: bool = False) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(*shape, generator=generator, dtype=torch.float64)
    return logits.to(dtype).requires_grad_(requires_grad)


@pytest.mark.parametrize("vocab", [1, 2, 7, 50_000])
@pytest.mark.parametrize("level", [0.0, 3.7, -250.0])
def test_uniform_logits_give_log_vocab(vocab: int, level: float) -> None:
    logits = torch.full((3, vocab), level, dtype=torch.float64)
    torch.testing.assert_close(entropy_from_logits(logits), torch.full((3,), math.log(vocab), dtype=torch.float64),
                               rtol=0, atol=1e-12)


def test_matches_scipy_on_random_logits() -> None:
    logits = _random_logits(4, 6, 33)
    z = logits.numpy()
    probs = np.exp(z - z.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    expected = scipy.stats.entropy(probs, axis=-1)
    np.testing.assert_allclose(entropy_from_logits(logits).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_gradient_is_minus_pi_times_centred_log_pi() -> None:
    logits = _random_logits(5, 9, requires_grad=True)
    entropy_from_logits(logits).sum().backward()
    log_pi = torch.log_softmax(logits.detach(), -1)
    pi = log_pi.exp()
    expected = -pi * (log_pi - (pi * log_pi).sum(-1, keepdim=True))
    torch.testing.assert_close(logits.grad, expected, rtol=1e-10, atol=1e-12)


def test_huge_logits_are_stable() -> None:
    logits = _random_logits(8, 1000, scale=1e4, dtype=torch.float32, requires_grad=True)
    entropy = entropy_from_logits(logits)
    entropy.sum().backward()
    assert torch.isfinite(entropy).all() and torch.isfinite(logits.grad).all()
    rounding = 4 * torch.finfo(torch.float32).eps * float(logits.detach().abs().max())  # documented bound
    reference = entropy_from_logits(logits.detach().double())
    torch.testing.assert_close(entropy.double(), reference, rtol=0, atol=rounding)
    tied = torch.tensor([[1e4, 1e4, 0.0], [-1e4, -1e4, -3e4]])
    torch.testing.assert_close(entropy_from_logits(tied), torch.full((2,), math.log(2.0)), rtol=0,
                               atol=4 * torch.finfo(torch.float32).eps * 3e4)


def _two_pass_entropy(logits: torch.Tensor) -> torch.Tensor:
    """verl's formula, ``logsumexp(z) - sum_v softmax(z)_v z_v``, differentiated by autograd."""
    return torch.logsumexp(logits, -1) - (torch.softmax(logits, -1) * logits).sum(-1)


def _scaled_logits(kind: str) -> torch.Tensor:
    """float64 logits ``[6, 300]`` of several scales, as ``kind`` names."""
    logits = _random_logits(6, 300, scale=1.0, seed=3)
    if kind == "dominant":  # one logit far above the rest in every row
        logits[:, 7] += 25.0
    elif kind == "offset":  # LLM-like spread around a large common level
        logits = 3.0 * logits + 1e4
    elif kind != "unit":
        logits = float(kind) * logits
    return logits


SCALES = ["unit", "0.01", "30", "1e4", "dominant", "offset"]


@pytest.mark.parametrize("kind", SCALES)
def test_values_match_minus_p_log_p_and_the_two_pass_formula(kind: str) -> None:
    def minus_p_log_p(logits: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits.double(), -1)
        return -(log_p.exp() * log_p).sum(-1)

    logits = _scaled_logits(kind)
    torch.testing.assert_close(entropy_from_logits(logits), minus_p_log_p(logits), rtol=1e-12, atol=1e-12)
    single = logits.float()
    eps = torch.finfo(torch.float32).eps
    entropy, reference = entropy_from_logits(single), minus_p_log_p(single)
    assert entropy.dtype == torch.float32
    assert torch.all((entropy.double() - reference).abs() <= 16 * eps * (reference + 1))  # a few eps * H
    two_pass_rounding = 4 * eps * float(single.abs().max())  # the two-pass formula's own error
    torch.testing.assert_close(entropy, _two_pass_entropy(single), rtol=0, atol=two_pass_rounding + 16 * eps)


@pytest.mark.parametrize("kind", SCALES)
def test_gradient_matches_autograd_of_the_two_pass_formula(kind: str) -> None:
    weights = _random_logits(6, scale=1.0, seed=4)
    for dtype in (torch.float64, torch.float32):
        logits = _scaled_logits(kind).to(dtype).requires_grad_(True)
        (grad,) = torch.autograd.grad((entropy_from_logits(logits) * weights.to(dtype)).sum(), logits)
        (expected,) = torch.autograd.grad((_two_pass_entropy(logits) * weights.to(dtype)).sum(), logits)
        rounding = 16 * torch.finfo(dtype).eps * (1 + float(logits.detach().abs().max()))  # both formulas'
        torch.testing.assert_close(grad, expected, rtol=0, atol=rounding)


def test_gradcheck_in_float64() -> None:
    logits = _random_logits(3, 2, 17, requires_grad=True)
    assert torch.autograd.gradcheck(entropy_from_logits, (logits,))
    dominant = _scaled_logits("dominant")[:2, :20].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(entropy_from_logits, (dominant,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_minus_inf_logits_have_zero_probability_and_zero_gradient(dtype: torch.dtype) -> None:
    logits = _random_logits(4, 30, dtype=dtype, seed=5)
    banned = torch.zeros(4, 30, dtype=torch.bool)
    banned[0, :25] = True  # top-k keeps 5
    banned[1, ::2] = True
    banned[2, 3] = True  # row 3 keeps everything
    masked = logits.masked_fill(banned, -math.inf).requires_grad_(True)
    entropy = entropy_from_logits(masked)
    (grad,) = torch.autograd.grad(entropy.sum(), masked)
    assert torch.isfinite(entropy).all() and torch.isfinite(grad).all()
    assert torch.all(grad[banned] == 0)
    torch.testing.assert_close(entropy_from_logits(masked.detach()), entropy.detach(), rtol=0, atol=0)  # no-grad path
    for row in range(4):
        kept = logits[row, ~banned[row]].clone().requires_grad_(True)
        expected = entropy_from_logits(kept)
        (expected_grad,) = torch.autograd.grad(expected, kept)
        torch.testing.assert_close(entropy[row], expected)
        torch.testing.assert_close(grad[row, ~banned[row]], expected_grad)


def test_rows_of_any_leading_shape_and_blocks_of_several_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    logits = _random_logits(3, 5, 40, requires_grad=True)
    expected = _two_pass_entropy(logits)
    (expected_grad,) = torch.autograd.grad(expected.sum(), logits)
    monkeypatch.setattr(entropy_module, "BLOCK_ELEMENTS", 3 * 40)  # blocks of 3 rows, the last one of 2
    entropy = entropy_from_logits(logits)
    (grad,) = torch.autograd.grad(entropy.sum(), logits)
    assert entropy.shape == (3, 5)
    torch.testing.assert_close(entropy, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 34, 35, 64])
@pytest.mark.parametrize("recompute", [True, False])
def test_chunked_equals_unchunked_values_and_gradients(chunk_size: int, recompute: bool) -> None:
    logits = _random_logits(5, 7, 40, requires_grad=True)  # 35 rows
    weights = _random_logits(5, 7, seed=1)
    expected = entropy_from_logits(logits)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), logits)
    chunked = chunked_entropy_from_logits(logits, chunk_size=chunk_size, recompute=recompute)
    (chunked_grad,) = torch.autograd.grad((chunked * weights).sum(), logits)
    assert chunked.shape == (5, 7)
    torch.testing.assert_close(chunked, expected, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(chunked_grad, expected_grad, rtol=1e-13, atol=1e-13)


def test_chunked_casts_half_precision_to_float32() -> None:
    logits = _random_logits(3, 4, 100, dtype=torch.bfloat16)
    chunked = chunked_entropy_from_logits(logits, chunk_size=5)
    assert chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, entropy_from_logits(logits.float()))


def test_chunked_without_grad_mode_and_empty_input() -> None:
    logits = _random_logits(2, 3, 11, requires_grad=True)
    with torch.no_grad():
        entropy = chunked_entropy_from_logits(logits, chunk_size=4)
    assert not entropy.requires_grad
    assert chunked_entropy_from_logits(torch.zeros(0, 5, 11)).shape == (0, 5)
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_entropy_from_logits(logits, chunk_size=0)


def _new_saved_bytes(logits: torch.Tensor, recompute: bool) -> int:
    """Bytes that autograd saves for backward in storage other than ``logits``'."""
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() != logits.untyped_storage().data_ptr():
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        chunked_entropy_from_logits(logits, chunk_size=8, recompute=recompute)
    return sum(saved.values())


def test_recompute_saves_no_float32_copy_of_the_logits() -> None:
    logits = _random_logits(64, 500, dtype=torch.bfloat16, requires_grad=True)
    float32_bytes = logits.numel() * 4
    assert _new_saved_bytes(logits, recompute=True) == 0
    assert _new_saved_bytes(logits, recompute=False) >= 2 * float32_bytes


@pytest.mark.parametrize("recompute", [True, False])
def test_chunked_from_hidden_equals_full_projection(recompute: bool) -> None:
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 30, dtype=torch.float64)
    hidden = _random_logits(3, 5, 6, scale=1.0, requires_grad=True)
    expected = entropy_from_logits(head(hidden) / 0.7)
    expected_grads = torch.autograd.grad(expected.sum(), (hidden, head.weight))
    chunked = chunked_entropy_from_hidden(hidden, lambda rows: head(rows) / 0.7, chunk_size=4, recompute=recompute)
    chunked_grads = torch.autograd.grad(chunked.sum(), (hidden, head.weight))
    torch.testing.assert_close(chunked, expected, rtol=1e-13, atol=1e-13)
    for got, want in zip(chunked_grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)
