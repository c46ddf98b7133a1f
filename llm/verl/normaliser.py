"""verl's global-batch loss normaliser, as a factor on entropic's micro-batch aggregation.

entropic's :func:`~entropic.objectives.agg_loss` normalises a micro-batch by its own tokens or
sequences. verl 0.9.1 normalises every micro-batch of a mini-batch by the whole mini-batch, summed over
the data-parallel ranks (``global_batch_info``: ``dp_size`` ranks, ``batch_num_tokens`` valid tokens,
``global_batch_size`` rows), and multiplies by ``dp_size`` because the ranks' gradients are averaged.
So verl's value is entropic's times a constant of the micro-batch:

============================  ===============================================================
loss_agg_mode                 factor
============================  ===============================================================
``token-mean``                ``N_micro * dp_size / batch_num_tokens``
``token-sum``                 ``dp_size``
``seq-mean-*`` (three modes)  ``n_micro * dp_size / global_batch_size``
============================  ===============================================================

with ``N_micro`` the micro-batch's valid tokens and ``n_micro`` its non-empty rows (verl divides by
all rows of the mini-batch, empty ones included; entropic by the micro-batch's non-empty ones). Without
the global numbers (one process, ``dp_size = 1``) the factor is 1, as verl then normalises locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from entropic.objectives.aggregation import check_agg_mode


def verl_normaliser(mask: torch.Tensor, mode: str, global_info: Mapping[str, Any]) -> torch.Tensor:
    """The factor turning entropic's aggregation of a micro-batch into verl's.

    Parameters
    ----------
    mask : FloatTensor [B, T]
        The micro-batch's valid response tokens.
    mode : str
        The aggregation mode (verl ``loss_agg_mode``).
    global_info : mapping
        verl's ``ActorConfig.global_batch_info``: ``dp_size``, ``batch_num_tokens``,
        ``global_batch_size`` (each may be absent or ``None``).

    Returns
    -------
    FloatTensor []
        The factor (on ``mask``'s device).
    """
    check_agg_mode(mode)
    dp_size = global_info.get("dp_size") or 1
    if mode == "token-sum":
        return mask.new_tensor(float(dp_size))
    field, local = (("batch_num_tokens", mask.sum()) if mode == "token-mean"
                    else ("global_batch_size", (mask.sum(-1) > 0).sum().to(mask.dtype)))
    total = global_info.get(field)
    if total is None:
        if dp_size > 1:
            raise ValueError(f"global_batch_info.{field} is required with dp_size={dp_size} "
                             f"(loss_agg_mode={mode!r})")
        return mask.new_tensor(1.0)
    return local * dp_size / total
