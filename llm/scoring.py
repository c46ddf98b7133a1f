"""Teacher-forced log-probs and entropy of response tokens, the LM head taken a block of rows at a time.

Only the response positions whose token counts (``mask``) go through the LM head, in blocks of
``chunk_rows`` rows: a ``[chunk_rows, V]`` float32 block is the most that exists at once, and under
grad each block is checkpointed, so backward recomputes its logits instead of keeping them. Logits are
divided by the sampling temperature (verl), so log-probs and entropy are those of the sampling
distribution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel

from entropic.metrics import entropy_from_logits
from entropic.metrics.entropy import compute_dtype


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """LongTensor [B, L]: positions counted over the attended tokens, as ``generate`` gives left-padded rows."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def response_hidden(model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                    tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states ``[B, T, D]`` at the positions that predict each response token.

    ``prompt_ids [B, P]`` are left-padded; ``tokens [B, T]`` the responses, attended up to their mask.
    """
    attention = torch.cat([prompt_mask, mask.to(prompt_mask.dtype)], dim=1)
    input_ids = torch.cat([prompt_ids, tokens], dim=1)
    decoder = model.get_decoder()
    hidden = decoder(input_ids=input_ids, attention_mask=attention, position_ids=position_ids(attention),
                     use_cache=False).last_hidden_state  # [B, P + T, D]
    P = prompt_ids.shape[1]
    return hidden[:, P - 1:-1]


def _block(hidden: torch.Tensor, targets: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor],
           temperature: float, entropy: str, top_k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs ``[n]`` of ``targets`` and entropies ``[n]`` (empty for ``entropy="none"``) of one block."""
    logits = head(hidden)
    logits = logits.to(compute_dtype(logits.dtype)) / temperature  # [n, V], float32 at least
    log_probs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    if entropy == "none":
        return log_probs, logits.new_empty(0)
    with torch.set_grad_enabled(torch.is_grad_enabled() and entropy == "grad"):
        return log_probs, entropy_from_logits(logits if top_k is None else logits.topk(top_k, dim=-1).values)


def token_stats(hidden: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                head: Callable[[torch.Tensor], torch.Tensor], temperature: float, entropy: str,
                chunk_rows: int, top_k: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs and entropies of the valid response tokens.

    Parameters
    ----------
    hidden : FloatTensor [B, T, D]
        :func:`response_hidden`.
    tokens : LongTensor [B, T]
        Response tokens.
    mask : FloatTensor [B, T]
        Tokens that count; the others get log-prob and entropy 0 and no gradient.
    head : callable
        The LM head, ``[n, D] -> [n, V]``.
    entropy : str
        ``none``, ``detached`` or ``grad`` (:data:`entropic.protocol.ENTROPY_MODES`).
    top_k : int, optional
        ``None``: the exact entropy of the full distribution; ``k``: the entropy of the ``k`` most
        probable tokens renormalised, a lower bound of the exact one when ``k`` holds most of the mass
        (the tail's share is dropped), at most ``log k``.

    Returns
    -------
    log_probs : FloatTensor [B, T]
    entropy : FloatTensor [B, T] or None
        ``None`` for ``entropy="none"``.
    """
    valid = mask > 0
    rows, targets = hidden[valid], tokens[valid]  # [N, D], [N]
    grad = torch.is_grad_enabled() and rows.requires_grad
    pieces = [checkpoint(_block, h, t, head, temperature, entropy, top_k, use_reentrant=False) if grad
              else _block(h, t, head, temperature, entropy, top_k)
              for h, t in zip(torch.split(rows, chunk_rows), torch.split(targets, chunk_rows), strict=True)]
    dtype = compute_dtype(hidden.dtype)
    log_probs = mask.new_zeros(mask.shape, dtype=dtype)
    log_probs = log_probs.masked_scatter(valid, torch.cat([p[0] for p in pieces]) if pieces else log_probs[valid])
    if entropy == "none":
        return log_probs, None
    entropies = mask.new_zeros(mask.shape, dtype=dtype)
    return log_probs, entropies.masked_scatter(valid, torch.cat([p[1] for p in pieces]) if pieces else entropies[valid])
