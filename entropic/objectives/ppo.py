"""PPO clipped surrogate with asymmetric (Clip-Higher) and dual clip: verl ``loss_mode="vanilla"``.

Per token::

    ratio = exp(clamp(logp - old_logp, -20, 20))
    L1 = -A * ratio
    L2 = -A * clamp(ratio, 1 - eps_low, 1 + eps_high)
    Lclip = max(L1, L2)
    L = where(A < 0, min(-A * c, Lclip), Lclip)          # dual clip, c = clip_ratio_c > 1

DAPO's Clip-Higher is ``clip_ratio_high > clip_ratio_low`` (0.28 vs 0.2). With one
update per rollout batch the ratio is 1 and the clip is inactive.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import indicator, knob_per_row, masked_mean_per_run

LOG_RATIO_CLAMP = 20.0


class Surrogate(NamedTuple):
    """The PPO token loss and its diagnostics, all ``[B, T]``.

    Attributes
    ----------
    loss : FloatTensor [B, T]
        Token loss (differentiable w.r.t. the log-probs).
    clipped : FloatTensor [B, T]
        1 where the clipped branch is the larger (``L2 > L1``), else 0.
    dual_clipped : FloatTensor [B, T] or None
        1 where the dual bound ``-A c`` holds (``A < 0``), else 0; ``None`` without a dual clip.
    log_ratio : FloatTensor [B, T]
        ``logp - old_logp`` (after the clamp, when there is one), detached.
    """

    loss: torch.Tensor
    clipped: torch.Tensor
    dual_clipped: torch.Tensor | None
    log_ratio: torch.Tensor


class _ClippedSurrogate(torch.autograd.Function):
    """The PPO token loss with its gradient ``dL/dlogp`` computed in the forward pass.

    Composing ``clamp``, ``exp``, ``maximum``, ``minimum`` and ``where`` under autograd costs about
    fifteen elementwise passes backwards; the chain rule collapses into one coefficient, so the
    backward pass is a single multiply. The coefficient is autograd's: ``clamp`` passes the
    gradient on its closed interval and, where the two clip branches are equal (ratio inside the
    bounds, ratio 1 included), their halves add up to the whole. One measure-zero tie differs: where
    the dual bound equals the clipped loss exactly, autograd would pass half the gradient; this passes
    all of it. Only ``log_probs`` receives a gradient. (``forward(ctx, ...)`` style: a separate
    ``setup_context`` costs an ``inspect.signature`` call per use.)
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, log_probs: torch.Tensor, old_log_probs: torch.Tensor,
                advantages: torch.Tensor, low: float | torch.Tensor, high: float | torch.Tensor,
                clip_c: float | torch.Tensor | None, log_ratio_clamp: float | None) -> tuple[torch.Tensor, ...]:
        delta = log_probs - old_log_probs
        log_ratio = delta if log_ratio_clamp is None else torch.clamp(delta, -log_ratio_clamp, log_ratio_clamp)
        ratio = torch.exp(log_ratio)
        zero = ratio.new_zeros(())
        unclipped = torch.addcmul(zero, advantages, ratio, value=-1.0)  # -A * ratio in one pass
        if isinstance(low, float) == isinstance(high, float):  # both floats or both per-run [B, 1]
            bounded = torch.clamp(ratio, low, high)
        else:
            bounded = torch.clamp(ratio, min=low).clamp_(max=high)
        clipped_loss = torch.addcmul(zero, advantages, bounded, value=-1.0)
        loss = torch.maximum(unclipped, clipped_loss)
        clipped = indicator(torch.gt, clipped_loss, unclipped)
        # d loss / d logp = -A * ratio wherever the clipped branch is not the larger: there either the
        # unclipped one is, or the two are equal, which (A = 0 aside, where -A * ratio is 0 anyway)
        # means the ratio lies inside its bounds; and the log-ratio is inside its clamp and no dual
        # bound holds. The coefficient is built in place of L1: L1 - L1 * clipped.
        coefficient = unclipped.addcmul_(unclipped, clipped, value=-1.0)
        if log_ratio_clamp is not None:
            coefficient *= indicator(torch.eq, log_ratio, delta)
        dual_clipped = None
        if clip_c is not None:
            # the dual bound -A c where A < 0, else 0: the loss is -A * (a positive ratio) <= 0 there already
            upper = torch.clamp(advantages, max=0.0) * -clip_c
            coefficient *= indicator(torch.le, loss, upper)
            dual_clipped = indicator(torch.gt, loss, upper)
            loss = torch.minimum(loss, upper)
        ctx.mark_non_differentiable(*(t for t in (clipped, dual_clipped, log_ratio) if t is not None))
        ctx.save_for_backward(coefficient)
        return loss, clipped, dual_clipped, log_ratio

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 *unused: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        (coefficient,) = ctx.saved_tensors
        return grad * coefficient, None, None, None, None, None, None


def clipped_surrogate(batch: PolicyBatch, control: Control, dual_clip: bool = True,
                      log_ratio_clamp: float | None = LOG_RATIO_CLAMP) -> Surrogate:
    """``max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high))``, with the dual bound ``-A c`` on ``A < 0``.

    Parameters
    ----------
    batch : PolicyBatch
        ``log_probs``, ``old_log_probs``, ``advantages`` ``[B, T]``, ``run`` ``[B]``.
    control : Control
        ``clip_ratio_low``, ``clip_ratio_high`` and (with ``dual_clip``) ``clip_ratio_c``, per run or shared.
    dual_clip : bool
        Bound the loss of negative-advantage tokens by ``-A c`` (verl ``vanilla``; Clip-Cov has none).
    log_ratio_clamp : float, optional
        Clamp ``logp - old_logp`` to ``[-x, x]`` before the ``exp`` (verl ``vanilla``: 20; Clip-Cov: none).
    """
    run = batch.run
    low = 1.0 - knob_per_row(control.clip_ratio_low, run)  # float, or [B, 1] per run
    high = 1.0 + knob_per_row(control.clip_ratio_high, run)
    clip_c = knob_per_row(control.clip_ratio_c, run) if dual_clip else None
    loss, clipped, dual_clipped, log_ratio = _ClippedSurrogate.apply(
        batch.log_probs, batch.old_log_probs.detach(), batch.advantages.detach(), low, high, clip_c,
        log_ratio_clamp)
    return Surrogate(loss, clipped, dual_clipped, log_ratio)


@register_policy_loss("vanilla", reads=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"))
def vanilla_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """PPO clipped surrogate with Clip-Higher and dual clip (verl ``compute_policy_loss_vanilla``).

    Metrics (per run): ``actor/pg_clipfrac`` (fraction with ``L2 > L1``),
    ``actor/pg_clipfrac_lower`` (dual clip active on ``A < 0``), ``actor/ppo_kl``
    (``mean(old_logp - logp)``).
    """
    run, R = batch.run, batch.num_runs
    measure = batch.weighted_mask
    surrogate = clipped_surrogate(batch, control)
    metrics = {
        "actor/pg_clipfrac": masked_mean_per_run(surrogate.clipped, measure, run, R),
        "actor/pg_clipfrac_lower": masked_mean_per_run(surrogate.dual_clipped, measure, run, R),
        "actor/ppo_kl": -masked_mean_per_run(surrogate.log_ratio, measure, run, R),
    }
    return PolicyLoss(surrogate.loss, metrics)
