"""Per-run values shared by the simulators: seeds and learning rates, one entry per independent run."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def as_runs(value: float | Sequence[float] | torch.Tensor, num_runs: int, dtype: torch.dtype,
            name: str) -> torch.Tensor:
    """A float or per-run sequence as a tensor ``[R]``; a wrong length raises ``ValueError``."""
    tensor = torch.as_tensor(value, dtype=dtype).detach().clone()
    if tensor.dim() == 0:
        tensor = tensor.expand(num_runs).clone()
    if tuple(tensor.shape) != (num_runs,):
        raise ValueError(f"{name} must be a number or have one entry per run ({num_runs}), "
                         f"got shape {list(tensor.shape)}")
    return tensor


def run_seeds(base_seed: int, seeds: Sequence[int] | torch.Tensor | None, num_runs: int) -> torch.Tensor:
    """LongTensor [R]: ``seeds``, or ``base_seed + r`` when none are given."""
    return as_runs(torch.arange(num_runs) + base_seed if seeds is None else seeds, num_runs, torch.long, "seeds")


class PerRunLearningRate:
    """Mixin: an ``lr`` property holding one positive learning rate per run (needs ``num_runs``, ``dtype``).

    The simulators run on the CPU: :attr:`device` is the ``Backend`` protocol's.
    """

    num_runs: int
    dtype: torch.dtype
    device = torch.device("cpu")

    @property
    def lr(self) -> torch.Tensor:
        """FloatTensor [R]: per-run learning rates; assign a float or a sequence / tensor of R values."""
        return self._lr

    @lr.setter
    def lr(self, value: float | Sequence[float] | torch.Tensor) -> None:
        lr = as_runs(value, self.num_runs, self.dtype, "lr")
        if not bool(((lr > 0) & torch.isfinite(lr)).all()):
            raise ValueError(f"lr must be > 0 and finite for every run, got {lr.tolist()}")
        self._lr = lr


def restore_params(params: dict[str, torch.Tensor], saved: dict[str, torch.Tensor], what: str) -> None:
    """Copy ``saved`` into ``params`` in place, refusing a shape another config or ``num_runs`` made.

    ``what`` names the parameters in the error (``parameter``, ``critic parameter``).
    """
    for name, param in params.items():
        value = saved[name]
        if value.shape != param.shape:
            raise ValueError(f"state_dict {what} {name!r} has shape {list(value.shape)}, this backend "
                             f"{list(param.shape)} (different config or num_runs)")
        with torch.no_grad():
            param.copy_(value)
