"""Exact token entropy of the full next-token distribution.

``H = logsumexp(z) - sum_v softmax(z)_v * z_v``, which equals ``-sum_v p_v log p_v`` without
ever taking the log of a small probability. The chunked variants compute it row block by row
block in float32 so a 150k-token vocabulary never exists as one ``[B*T, V]`` float32 tensor,
and keep the autograd graph for the entropy bonus.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

DEFAULT_CHUNK_ROWS = 2048
"""verl's chunk size (rows of ``[B*T, V]`` per block)."""


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` over the last dimension.

    Parameters
    ----------
    logits : FloatTensor [..., V]
        Finite logits (temperature already applied). A ``-inf`` logit gives NaN, as in verl.

    Returns
    -------
    FloatTensor [...]
        ``logsumexp(z) - sum_v softmax(z)_v z_v``, in the dtype of ``logits``, with grad;
        ``H`` lies in ``[0, log V]``. No overflow for any finite logits; the two terms are of
        the size of ``max |z|``, so the absolute rounding error is a few ``eps * max |z|``
        (about 1e-3 in float32 for logits near 1e4, 1e-5 for LLM logits near 30).
    """
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype entropy is computed in: float32 for half-precision inputs, float64 stays float64."""
    return torch.promote_types(dtype, torch.float32)


def _chunk_entropy(rows: torch.Tensor, to_logits: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Entropy ``[n]`` of one block of rows ``[n, D]``, its logits cast up to at least float32."""
    logits = to_logits(rows)  # [n, V]
    return entropy_from_logits(logits.to(compute_dtype(logits.dtype)))


def _chunked_rows_entropy(rows: torch.Tensor, to_logits: Callable[[torch.Tensor], torch.Tensor],
                          chunk_size: int, recompute: bool) -> torch.Tensor:
    """Entropy ``[N]`` of rows ``[N, D]`` computed ``chunk_size`` rows at a time."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    recompute = recompute and torch.is_grad_enabled()
    pieces = []
    for block in torch.split(rows, chunk_size):
        if recompute:
            pieces.append(checkpoint(_chunk_entropy, block, to_logits, use_reentrant=False))
        else:
            pieces.append(_chunk_entropy(block, to_logits))
    return torch.cat(pieces)


def chunked_entropy_from_logits(logits: torch.Tensor, chunk_size: int = DEFAULT_CHUNK_ROWS,
                                recompute: bool = True) -> torch.Tensor:
    """:func:`entropy_from_logits` over blocks of ``chunk_size`` rows, each cast to float32.

    Parameters
    ----------
    logits : FloatTensor [..., V]
        Logits in any float dtype (bf16 from an LLM); the leading dimensions are flattened
        into ``N`` rows.
    chunk_size : int, optional
        Rows per block (default 2048, verl's value). Any value works, including one that does
        not divide ``N``; the result does not depend on it.
    recompute : bool, optional
        Under grad mode, wrap each block in ``torch.utils.checkpoint`` (default True).

    Returns
    -------
    FloatTensor [...]
        Entropy per row, float32 (float64 for float64 input), with grad.

    Notes
    -----
    Memory, beyond ``logits`` itself: a few float32 ``[chunk_size, V]`` temporaries of one
    block at a time (the cast, the softmax, their product), about 1.2 GB each for 2048 rows x 150k tokens.

    - With ``recompute=True`` (or under ``torch.no_grad``) that is the whole cost: a
      checkpointed block saves only its input, a view of ``logits``, and recomputes its
      softmax during backward, one block at a time.
    - With ``recompute=False`` under grad mode, every block keeps its float32 softmax and cast
      for backward, so the saved activations grow to ``~2 * N * V * 4`` bytes: chunking then
      bounds only the transient peak, not the total.
    """
    rows = logits.reshape(-1, logits.shape[-1])  # [N, V]
    entropy = _chunked_rows_entropy(rows, _identity, chunk_size, recompute)
    return entropy.reshape(logits.shape[:-1])


def chunked_entropy_from_hidden(hidden: torch.Tensor, project: Callable[[torch.Tensor], torch.Tensor],
                                chunk_size: int = DEFAULT_CHUNK_ROWS, recompute: bool = True) -> torch.Tensor:
    """Entropy of ``softmax(project(hidden))`` without ever holding all the logits.

    Parameters
    ----------
    hidden : FloatTensor [..., D]
        Final hidden states; the leading dimensions are flattened into ``N`` rows.
    project : callable
        Maps a block of rows ``[n, D]`` to logits ``[n, V]`` (the LM head, divided by the
        sampling temperature); its output is cast to float32 before the softmax.
    chunk_size : int, optional
        Rows per block (default 2048).
    recompute : bool, optional
        Under grad mode, checkpoint each block so that backward recomputes its logits
        (default True).

    Returns
    -------
    FloatTensor [...]
        Entropy per row, with grad to ``hidden`` and to the parameters of ``project``.

    Notes
    -----
    Only one block's logits ``[chunk_size, V]`` exist at a time, in forward and (with
    ``recompute``) in backward; the price is a second LM-head matmul per block in backward.
    """
    rows = hidden.reshape(-1, hidden.shape[-1])  # [N, D]
    entropy = _chunked_rows_entropy(rows, project, chunk_size, recompute)
    return entropy.reshape(hidden.shape[:-1])
