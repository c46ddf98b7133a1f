"""Independent single-run references for the objective tests, and seeded batch builders.

Each ``ref_*`` function follows the formula text of the specification line by line for ONE
run (no run ids, no row weights, no per-run machinery), so that a test can compare the
library against a second, deliberately naive implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from entropic.control import Control
from entropic.objectives import PolicyBatch

NEG_INF = float("-inf")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """verl ``masked_mean``: ``sum(x * mask) / (sum(mask) + 1e-8)``."""
    return (x * mask).sum() / (mask.sum() + 1e-8)


def ref_agg(loss: torch.Tensor, mask: torch.Tensor, mode: str, scale: float | None = None) -> torch.Tensor:
    """verl 0.9.1 ``core_algos.agg_loss`` of one run (dp_size 1), mode by mode; empty denominators give 0."""
    lengths = mask.sum(-1)  # [B]
    seq_sums = (loss * mask).sum(-1)  # [B]
    num_seqs = (lengths > 0).sum()
    if mode == "token-mean":
        return seq_sums.sum() / mask.sum() if mask.sum() > 0 else seq_sums.sum() * 0
    if mode == "token-sum":
        return seq_sums.sum()
    if mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
        seq_mean = seq_sums.sum() / num_seqs if num_seqs > 0 else seq_sums.sum() * 0
        if mode == "seq-mean-token-sum":
            return seq_mean
        return seq_mean / (mask.shape[-1] if scale is None else scale)
    if mode == "seq-mean-token-mean":
        per_seq = seq_sums / (lengths + 1e-8)
        return per_seq.sum() / num_seqs if num_seqs > 0 else per_seq.sum() * 0
    raise AssertionError(mode)


def ref_vanilla(logp: torch.Tensor, old_logp: torch.Tensor, A: torch.Tensor, mask: torch.Tensor,
                eps_low: float, eps_high: float, c: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """verl ``core_algos.compute_policy_loss_vanilla``: per-token loss and metrics."""
    ratio = torch.exp(torch.clamp(logp - old_logp, -20, 20))
    L1 = -A * ratio
    L2 = -A * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    Lclip = torch.maximum(L1, L2)
    L3 = -A * c
    L = torch.where(A < 0, torch.minimum(L3, Lclip), Lclip)
    metrics = {
        "actor/pg_clipfrac": masked_mean((L2 > L1).to(mask.dtype), mask),
        "actor/pg_clipfrac_lower": masked_mean(((Lclip > L3) & (A < 0)).to(mask.dtype), mask),
        "actor/ppo_kl": masked_mean(old_logp - logp, mask),
    }
    return L, metrics


def ref_clip_cov(logp: torch.Tensor, old_logp: torch.Tensor, A: torch.Tensor, mask: torch.Tensor,
                 eps_low: float, eps_high: float, clip_cov_ratio: float, lb: float, ub: float,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """verl ``core_algos.compute_policy_loss_clip_cov``: per-token loss and the 0/1 ``corr`` tensor."""
    ratio = torch.exp(logp - old_logp)
    L1 = -A * ratio
    L2 = -A * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    clipped_by_ppo = (L2 > L1) & (mask > 0)
    cov = (A - masked_mean(A, mask)) * (logp - masked_mean(logp.detach(), mask))
    cov = cov.detach().clone()
    cov[mask == 0] = NEG_INF
    cov[clipped_by_ppo] = NEG_INF
    candidates = torch.nonzero((cov > lb) & (cov < ub) & (mask > 0))  # [n, 2], row-major
    n_clip = max(int(clip_cov_ratio * mask.sum().item()), 1)
    corr = torch.ones_like(A)
    if len(candidates) > 0:
        perm = torch.randperm(len(candidates), generator=generator)
        chosen = candidates[perm[: min(n_clip, len(candidates))]]
        corr[chosen[:, 0], chosen[:, 1]] = 0
    return torch.maximum(L1, L2) * corr, corr


def ref_kl_cov(logp: torch.Tensor, old_logp: torch.Tensor, A: torch.Tensor, mask: torch.Tensor,
               kl_cov_ratio: float, ppo_kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """verl ``core_algos.compute_policy_loss_kl_cov``: per-token loss and the bool selection ``[B, T]``."""
    lr = logp - old_logp
    ratio = torch.exp(lr)
    L_base = -A * ratio
    L_kl = -A * ratio + ppo_kl_coef * lr.abs()
    valid = mask > 0
    adv = A[valid]
    lp = logp.detach()[valid]
    cov = (adv - adv.mean()) * (lp - lp.mean())
    k = max(1, int(len(cov) * kl_cov_ratio))
    top = torch.topk(cov, k, largest=True).indices
    flat_valid = torch.nonzero(valid.reshape(-1), as_tuple=True)[0]
    selected = torch.zeros(mask.numel(), dtype=torch.bool)
    selected[flat_valid[top]] = True
    selected = selected.view_as(mask)
    return torch.where(selected, L_kl, L_base), selected


def ref_gspo(logp: torch.Tensor, old_logp: torch.Tensor, A: torch.Tensor, mask: torch.Tensor,
             eps_low: float, eps_high: float) -> torch.Tensor:
    """verl ``core_algos.compute_policy_loss_gspo``: per-token loss (aggregate with ``seq-mean-token-mean``)."""
    L_b = mask.sum(-1)
    log_s_b = ((logp - old_logp) * mask).sum(-1) / torch.clamp(L_b, min=1)
    log_s_bt = log_s_b.detach().unsqueeze(-1) + logp - logp.detach()
    s_bt = torch.exp(torch.clamp(log_s_bt, max=10.0))
    return torch.maximum(-A * s_bt, -A * torch.clamp(s_bt, 1 - eps_low, 1 + eps_high))


def ref_gpg(logp: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """verl ``core_algos.compute_policy_loss_gpg``: ``-logp * A``, no ratio and no clip."""
    return -logp * A


def ref_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """verl ``core_algos.kl_penalty`` with ``low_var_kl`` (k3)."""
    kl = torch.clamp(ref_logp - logp, -20, 20)
    return torch.clamp(torch.exp(kl) - kl - 1, -10, 10)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """verl ``torch_functional.entropy_from_logits``: ``logsumexp(z) - sum p z``."""
    p = torch.softmax(logits, -1)
    return torch.logsumexp(logits, -1) - (p * logits).sum(-1)


def random_batch(B: int, T: int, seed: int, dtype: torch.dtype = torch.float64, *, empty_row: bool = False,
                 token_adv: bool = False, spread: float = 0.3) -> PolicyBatch:
    """A seeded single-run batch with ``log_probs`` as a grad leaf.

    Advantages are one value per sequence (``token_adv=False``) or per token; the last row
    has an empty mask when ``empty_row``; ``old_log_probs = log_probs + spread * noise``.
    """
    g = torch.Generator().manual_seed(seed)
    logp = -torch.empty(B, T, dtype=dtype).exponential_(generator=g)
    old = logp + spread * torch.randn(B, T, generator=g, dtype=dtype)
    ref = logp + 0.5 * torch.randn(B, T, generator=g, dtype=dtype)
    sample = old + 0.2 * torch.randn(B, T, generator=g, dtype=dtype)
    adv = torch.randn(B, T if token_adv else 1, generator=g, dtype=dtype).expand(B, T)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    if empty_row:
        lengths[-1] = 0
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(-1)).to(dtype)
    return PolicyBatch(log_probs=logp.requires_grad_(), old_log_probs=old, advantages=adv * mask, mask=mask,
                       run=torch.zeros(B, dtype=torch.long), ref_log_probs=ref, sample_log_probs=sample)


def logits_run(B: int, T: int, V: int, seed: int, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """One run's raw tensors with ``logits [B, T, V]`` as the grad leaf (log-probs and entropy derive from it)."""
    g = torch.Generator().manual_seed(seed)
    logits = (2.0 * torch.randn(B, T, V, generator=g, dtype=dtype))
    logits[0, 0, 0] = 12.0  # a high-probability token for the EntroPIC term
    tokens = torch.randint(0, V, (B, T), generator=g)
    tokens[0, 0] = 0
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(-1)).to(dtype)
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    old = logp + 0.3 * torch.randn(B, T, generator=g, dtype=dtype)
    return {
        "logits": logits.requires_grad_(), "tokens": tokens, "mask": mask, "old": old,
        "ref": logp + 0.5 * torch.randn(B, T, generator=g, dtype=dtype),
        "sample": old + 0.3 * torch.randn(B, T, generator=g, dtype=dtype),
        "adv": torch.randn(B, 1, generator=g, dtype=dtype).expand(B, T) * mask,
    }


def batch_from_runs(runs: list[dict[str, torch.Tensor]], T: int,
                    generators: list[torch.Generator] | None = None) -> PolicyBatch:
    """Pad each run to ``T`` and stack them into one batch; log-probs and entropy keep the graph to the logits."""

    def pad(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, T - x.shape[1])) if x.dim() == 2 else F.pad(x, (0, 0, 0, T - x.shape[1]))

    logits = torch.cat([pad(r["logits"]) for r in runs])
    tokens = torch.cat([pad(r["tokens"]) for r in runs])
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    run = torch.cat([torch.full((r["mask"].shape[0],), i, dtype=torch.long) for i, r in enumerate(runs)])
    return PolicyBatch(
        log_probs=logp, old_log_probs=torch.cat([pad(r["old"]) for r in runs]),
        advantages=torch.cat([pad(r["adv"]) for r in runs]), mask=torch.cat([pad(r["mask"]) for r in runs]),
        run=run, num_runs=len(runs), entropy=entropy_from_logits(logits),
        ref_log_probs=torch.cat([pad(r["ref"]) for r in runs]),
        sample_log_probs=torch.cat([pad(r["sample"]) for r in runs]), generators=generators)


def control_of_run(control: Control, r: int) -> Control:
    """The one-run :class:`Control` of run ``r``: per-run tensors sliced to ``[1]``."""
    return Control(**{k: v[r:r + 1] if isinstance(v, torch.Tensor) else v for k, v in control.to_dict().items()})


def batch_of(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
             mask: torch.Tensor | None = None, **optional: torch.Tensor) -> PolicyBatch:
    """A one-run batch from explicit tensors (``mask`` defaults to all ones)."""
    mask = torch.ones_like(advantages) if mask is None else mask
    return PolicyBatch(log_probs=log_probs, old_log_probs=old_log_probs, advantages=advantages, mask=mask,
                       run=torch.zeros(advantages.shape[0], dtype=torch.long), **optional)
