"""The trainable policy of R independent runs: parameters -> logits ``[R, P, T, K]``.

Three parameterisations (``BanditConfig.parameterization``), all starting at the calibrated prior:

- ``tabular``: the logits are the parameters, ``logits [R, P, T, K]``;
- ``low_rank``: ``prior + U_r V_r^T`` with ``u [R, P, D]`` (from the task seed) and ``v [R, T, K, D]`` (0);
- ``features``: ``prior + x_p . W_r`` with fixed unit features ``x [P, D]`` and ``w [R, T, K, D]`` (0).

In the last two an update on one prompt moves the logits of every prompt whose ``u_p`` (or
``x_p``) overlaps, as shared weights do in a language model. Products are summed over ``D`` with
an explicit broadcast-and-reduce over the last dimension rather than a batched matmul, so each
run's numbers are computed the same way whatever the number of runs.
"""

from __future__ import annotations

import torch

from entropic.sims.config import BanditConfig
from entropic.sims.task import BanditTask


class BanditPolicy:
    """Parameters of R runs and the logits they give.

    Parameters
    ----------
    config : BanditConfig
        ``parameterization``, ``dtype``.
    task : BanditTask
        Supplies the features or the initial ``U``.
    prior_logits : FloatTensor [P, T, K]
        The calibrated initial logits (shared by all runs).
    num_runs : int
        R.

    Attributes
    ----------
    params : dict[str, FloatTensor [R, ...]]
        The leaf tensors the optimiser updates (``requires_grad``), first dimension the run.
    prior : FloatTensor [P, T, K]
        Initial (and reference) logits.
    """

    def __init__(self, config: BanditConfig, task: BanditTask, prior_logits: torch.Tensor, num_runs: int) -> None:
        dtype = config.torch_dtype
        self.kind = config.parameterization
        self.prior = prior_logits.to(dtype)
        P, T, K = task.shape
        D, R = config.rank, num_runs
        self.features: torch.Tensor | None = None
        if self.kind == "tabular":
            self.params = {"logits": self.prior.expand(R, P, T, K).clone()}
        elif self.kind == "low_rank":
            self.params = {"u": task.low_rank_init.to(dtype).expand(R, P, D).clone(),
                           "v": torch.zeros(R, T, K, D, dtype=dtype)}
        else:
            self.features = task.features.to(dtype)
            self.params = {"w": torch.zeros(R, T, K, D, dtype=dtype)}
        for tensor in self.params.values():
            tensor.requires_grad_(True)

    def logits(self) -> torch.Tensor:
        """FloatTensor [R, P, T, K]: the current logits (with grad when enabled)."""
        if self.kind == "tabular":
            return self.params["logits"]
        if self.kind == "low_rank":
            u, v = self.params["u"], self.params["v"]
            delta = (u[:, :, None, None, :] * v[:, None, :, :, :]).sum(-1)  # [R, P, T, K]
        else:
            x, w = self.features, self.params["w"]
            delta = (x[None, :, None, None, :] * w[:, None, :, :, :]).sum(-1)  # [R, P, T, K]
        return self.prior + delta
