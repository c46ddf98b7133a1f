"""KL estimators: hand values, k3 properties, clamps, straight-through variants, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import ref_k3

from entropic.objectives import KL_ESTIMATORS, ObjectiveConfig, kl_penalty

# d = logp - ref_logp = [1, -1, 0]
LOGP = torch.tensor([[-1.0, -2.0, -0.5]], dtype=torch.float64)
REF = torch.tensor([[-2.0, -1.0, -0.5]], dtype=torch.float64)
HAND = {
    "kl": [1.0, -1.0, 0.0],
    "k1": [1.0, -1.0, 0.0],
    "abs": [1.0, 1.0, 0.0],
    "mse": [0.5, 0.5, 0.0],
    "k2": [0.5, 0.5, 0.0],
    # k3 = e^{-d} + d - 1: e^-1 + 1 - 1, e^1 - 1 - 1, 0
    "low_var_kl": [math.exp(-1.0), math.e - 2.0, 0.0],
    "k3": [math.exp(-1.0), math.e - 2.0, 0.0],
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_worked_values(name: str) -> None:
    torch.testing.assert_close(kl_penalty(LOGP, REF, name), torch.tensor([HAND[name]], dtype=torch.float64))


def test_every_registered_estimator_has_a_hand_value() -> None:
    assert set(KL_ESTIMATORS.names()) == set(HAND)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k3_nonnegative_and_matches_reference(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logp = 3.0 * torch.randn(50, 8, generator=g, dtype=torch.float64)
    ref = 3.0 * torch.randn(50, 8, generator=g, dtype=torch.float64)
    k3 = kl_penalty(logp, ref, "k3")
    assert (k3 >= 0).all()
    torch.testing.assert_close(k3, ref_k3(logp, ref))
    assert torch.equal(kl_penalty(logp, logp, "k3"), torch.zeros_like(logp))


def test_k3_clamps() -> None:
    # d = +30: clamp(-d) = -20, e^-20 + 20 - 1 = 19 -> 10 ; d = -30: e^20 - 21 -> 10
    out = kl_penalty(torch.tensor([30.0, -30.0, 2.0]), torch.zeros(3), "low_var_kl")
    torch.testing.assert_close(out, torch.tensor([10.0, 10.0, math.exp(-2.0) + 1.0]))


@pytest.mark.parametrize("base", ["kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3"])
@pytest.mark.parametrize("seed", [0, 1])
def test_straight_through_has_base_value_and_k2_gradient(base: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logp = torch.randn(4, 5, generator=g, dtype=torch.float64).requires_grad_()
    ref = torch.randn(4, 5, generator=g, dtype=torch.float64)
    weights = torch.rand(4, 5, generator=g, dtype=torch.float64)
    plus = kl_penalty(logp, ref, base + "+")
    torch.testing.assert_close(plus, kl_penalty(logp, ref, base))
    (grad,) = torch.autograd.grad((plus * weights).sum(), logp)
    torch.testing.assert_close(grad, weights * (logp - ref).detach())  # d/dlogp of 0.5 d^2


@pytest.mark.parametrize("name", ["k1", "mse", "k2", "low_var_kl", "k3", "k1+", "k3+"])
def test_gradcheck(name: str) -> None:
    g = torch.Generator().manual_seed(3)
    logp = torch.randn(3, 4, generator=g, dtype=torch.float64).requires_grad_()
    ref = torch.randn(3, 4, generator=g, dtype=torch.float64)
    if name.endswith("+"):  # straight-through: the gradient is that of k2, not of the value
        assert torch.autograd.gradcheck(lambda x: kl_penalty(x, ref, name) - kl_penalty(x, ref, name).detach()
                                        + kl_penalty(x, ref, "k2").detach(), (logp,))
    else:
        assert torch.autograd.gradcheck(lambda x: kl_penalty(x, ref, name), (logp,))


def test_k3_gradient_closed_form() -> None:
    logp = torch.tensor([0.3, -0.7, 0.0], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([-0.2, 0.4, 0.0], dtype=torch.float64)
    (grad,) = torch.autograd.grad(kl_penalty(logp, ref, "k3").sum(), logp)
    torch.testing.assert_close(grad, 1.0 - torch.exp(ref - logp.detach()))  # zero at logp == ref


@pytest.mark.parametrize("bad", ["full", "k4", "k3++", ""])
def test_unknown_kl_type_names_field_and_allowed_values(bad: str) -> None:
    with pytest.raises(ValueError, match="kl_loss_type") as info:
        ObjectiveConfig(kl_loss_type=bad)
    assert "low_var_kl" in str(info.value)
    with pytest.raises(ValueError, match="kl_loss_type"):
        kl_penalty(LOGP, REF, bad)
