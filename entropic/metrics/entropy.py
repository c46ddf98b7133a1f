"""Exact token entropy of the full next-token distribution.

verl's ``verl_F.entropy_from_logits`` computes ``H = logsumexp(z) - sum_v softmax(z)_v z_v``
with a softmax, a logsumexp and a product, each its own pass over the logits, and lets
autograd differentiate all three. :func:`entropy_from_logits` gets the same value in one pass
over row blocks: with ``m = max_v z_v``, ``y = z - m`` and ``e = exp(y)`` (computed once,
saved for backward),

::

    S = sum_v e_v,   W = sum_v e_v y_v,   H = log S - W / S,
    dH/dz_v = p_v (E_p[z] - z_v),   p = e / S,   E_p[z] = m + W / S,

so backward is two elementwise passes. The chunked variants compute the entropy row block by
row block in float32 so a 150k-token vocabulary never exists as one ``[B*T, V]`` float32
tensor, and keep the autograd graph for the entropy bonus.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

DEFAULT_CHUNK_ROWS = 2048
"""verl's chunk size (rows of ``[B*T, V]`` per block)."""

BLOCK_ELEMENTS = 1 << 24
"""Logits per row block of the forward of :func:`entropy_from_logits` (at least one row): bounds
its ``[rows, V]`` temporary to 64 MiB in float32 and keeps the number of blocks small."""


class _Entropy(torch.autograd.Function):
    """Entropy ``[N]`` of the rows of ``logits [N, V]``.

    With ``keep_exps`` (grad needed) forward writes ``e = exp(z - m)`` into an ``[N, V]`` tensor
    saved for backward; recomputing it there instead, from ``[N]`` tensors only, measured 1.1x
    to 1.3x slower. Without, ``e`` lives in a one-block buffer.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, keep_exps: bool) -> torch.Tensor:
        rows, vocab = logits.shape
        step = max(1, BLOCK_ELEMENTS // max(vocab, 1))
        peak, total, weighted = (logits.new_empty(rows, 1) for _ in range(3))  # m, S, W
        exps = torch.empty_like(logits) if keep_exps else None  # e
        shifted = logits.new_empty(min(step, rows), vocab)  # y of one block
        scratch = None if keep_exps else torch.empty_like(shifted)  # e of one block
        for start in range(0, rows, step):
            block = slice(start, start + step)
            z = logits[block]
            y = shifted[: len(z)]
            e = exps[block] if exps is not None else scratch[: len(z)]
            torch.amax(z, -1, keepdim=True, out=peak[block])
            torch.exp(torch.sub(z, peak[block], out=y), out=e)
            torch.sum(e, -1, keepdim=True, out=total[block])
            torch.sum(y.mul_(e), -1, keepdim=True, out=weighted[block])
        masked = torch.nonzero(weighted.isnan().squeeze(-1)).squeeze(-1)  # rows with a -inf logit
        if masked.numel():
            y = logits[masked] - peak[masked]
            weighted[masked] = (y.exp() * y.masked_fill(y.isneginf(), 0.0)).sum(-1, keepdim=True)
        mean = weighted / total  # E_p[y]
        ctx.save_for_backward(logits, exps, peak, total, mean, masked)
        return (total.log() - mean).squeeze(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_entropy: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, exps, peak, total, mean, masked = ctx.saved_tensors
        scale = grad_entropy.unsqueeze(-1) / total  # g / S
        shift = (mean + peak) * scale  # g E_p[z] / S
        grad = torch.addcmul(shift, logits, scale, value=-1).mul_(exps)  # g p (E_p[z] - z)
        if masked.numel():
            grad[masked] = grad[masked].masked_fill_(logits[masked].isneginf(), 0.0)
        return grad, None


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` over the last dimension.

    Parameters
    ----------
    logits : FloatTensor [..., V]
        Logits (temperature already applied), float32 or float64 (callers cast half precision
        up, see :func:`compute_dtype`). A ``-inf`` logit, a token masked out by top-k or top-p,
        has probability 0: it adds nothing to ``H`` and gets gradient 0. Each row needs at least
        one finite logit.

    Returns
    -------
    FloatTensor [...]
        ``H = log S - W / S`` (module docstring), in the dtype of ``logits``, with a first-order
        grad ``p_v (E_p[z] - z_v)``; ``H`` lies in ``[0, log V]``. No overflow for any finite
        logits. ``H = log S + E_p[m - z]`` adds two nonnegative terms, so its rounding error is a
        few ``eps * H`` whatever the size of the logits (verl's formula loses ``eps * max |z|``,
        about 1e-3 in float32 for logits near 1e4); the gradient's is ``p_v`` times a few
        ``eps * max |z|``, as with autograd of verl's formula.
    """
    rows = logits.reshape(-1, logits.shape[-1])  # [N, V]
    keep_exps = torch.is_grad_enabled() and rows.requires_grad
    return _Entropy.apply(rows, keep_exps).reshape(logits.shape[:-1])


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
    Memory, beyond ``logits`` itself: float32 ``[chunk_size, V]`` tensors of one block at a
    time (the cast and ``e``, plus the gradient in backward), about 1.2 GB each for 2048 rows
    x 150k tokens.

    - With ``recompute=True`` (or under ``torch.no_grad``) that is the whole cost: a
      checkpointed block saves only its input, a view of ``logits``, and recomputes its
      ``e`` during backward, one block at a time.
    - With ``recompute=False`` under grad mode, every block keeps its float32 cast and ``e``
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
        sampling temperature); its output is cast to float32 before the entropy.
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
