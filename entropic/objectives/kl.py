"""Per-token KL penalty estimators ``kl_penalty(logp, ref_logp, type)`` (verl ``kl_penalty``).

With ``d = logp - ref_logp`` on tokens sampled from the current policy:

===================  ==================================================  ===========================
type                 value                                               note
===================  ==================================================  ===========================
``kl`` / ``k1``      ``d``                                               unbiased, can be negative
``abs``              ``|d|``
``mse`` / ``k2``     ``d**2 / 2``                                        gradient of KL on-policy
``low_var_kl``/k3    ``clamp(exp(-d') + d' - 1, -10, 10)``, ``d'=clamp(d, -20, 20)``   >= 0 (Schulman k3)
``<type>+``          value of ``<type>``, gradient of ``k2``             straight-through
===================  ==================================================  ===========================

``full`` (verl raises ``NotImplementedError``) is not offered.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from entropic.registry import Registry

KlEstimator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

KL_ESTIMATORS: Registry[KlEstimator] = Registry("KL estimator", "objective.kl_loss_type")


@KL_ESTIMATORS.register("kl", "k1")
def kl_k1(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """``logp - ref_logp``."""
    return log_probs - ref_log_probs


@KL_ESTIMATORS.register("abs")
def kl_abs(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """``|logp - ref_logp|``."""
    return (log_probs - ref_log_probs).abs()


@KL_ESTIMATORS.register("mse", "k2")
def kl_k2(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """``0.5 * (logp - ref_logp)**2``."""
    return 0.5 * (log_probs - ref_log_probs).square()


@KL_ESTIMATORS.register("low_var_kl", "k3")
def kl_k3(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 ``pi_ref/pi - log(pi_ref/pi) - 1 >= 0``, clamped as verl does."""
    log_ref_ratio = torch.clamp(ref_log_probs - log_probs, min=-20.0, max=20.0)
    return torch.clamp(torch.exp(log_ref_ratio) - log_ref_ratio - 1.0, min=-10.0, max=10.0)


def check_kl_type(kl_type: str) -> str:
    """Return ``kl_type`` if it names an estimator, with or without the ``+`` suffix."""
    KL_ESTIMATORS.get(kl_type.removesuffix("+"))
    return kl_type


def kl_penalty(log_probs: torch.Tensor, ref_log_probs: torch.Tensor, kl_type: str) -> torch.Tensor:
    """Per-token KL estimate ``[B, T]`` of ``KL(pi_theta || pi_ref)``.

    Parameters
    ----------
    log_probs : FloatTensor [B, T]
        log pi_theta of the sampled tokens (with grad).
    ref_log_probs : FloatTensor [B, T]
        log pi_ref of the same tokens.
    kl_type : str
        Estimator name; a trailing ``+`` keeps its value but takes the gradient of ``k2``.
    """
    straight_through = kl_type.endswith("+")
    value = KL_ESTIMATORS.get(kl_type.removesuffix("+"))(log_probs, ref_log_probs)
    if not straight_through:
        return value
    k2 = kl_k2(log_probs, ref_log_probs)
    return k2 - k2.detach() + value.detach()
