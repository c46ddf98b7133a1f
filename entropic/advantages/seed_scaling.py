"""SEED-GRPO's advantage scale ``f(alpha * SE / SE_max)``: how much of a group's advantage its uncertainty keeps.

The paper (Chen et al., arXiv 2505.12346) scales each response's advantage by a decreasing function
``f`` of its group's normalised semantic entropy ``u = SE / SE_max`` in ``[0, 1]``, with three
choices of ``f``. Their exact forms are not in the material we could read (the authors' code is not
public), so these are entropic's, unverified:

===============  =======================  ==============================================
``scaling``      ``f(alpha u)``           range of ``alpha``
===============  =======================  ==============================================
``linear``       ``1 - alpha u``          ``[0, 1]``: ``f >= 0``
``exponential``  ``exp(-alpha u)``        ``[0, inf)``
``focal``        ``(1 - alpha u)^gamma``  ``[0, 1]``; ``gamma > 0`` (focal loss's 2), 1 is linear
===============  =======================  ==============================================

Each is 1 for a confident group (``u = 0``: the original GRPO signal) and falls as the group's
answers spread; none changes an advantage's sign.
"""

from __future__ import annotations

import torch

SEED_SCALINGS = ("linear", "exponential", "focal")
"""The choices of ``f`` (``advantage.seed_scaling``)."""


def seed_scale(uncertainty: torch.Tensor, alpha: float, scaling: str, gamma: float) -> torch.Tensor:
    """``f(alpha * u)`` of normalised semantic entropies ``u`` ``[K]`` in ``[0, 1]``: ``[K]``.

    Parameters
    ----------
    uncertainty : FloatTensor [K]
        ``u = SE / SE_max`` of each group.
    alpha : float
        Sensitivity to uncertainty (``advantage.seed_alpha``).
    scaling : str
        One of :data:`SEED_SCALINGS`.
    gamma : float
        Exponent of ``focal`` (``advantage.seed_gamma``).

    Returns
    -------
    FloatTensor [K]
        The scale of each group's advantages, in ``[0, 1]``.
    """
    x = alpha * uncertainty
    if scaling == "linear":
        return 1.0 - x
    if scaling == "exponential":
        return torch.exp(-x)
    if scaling == "focal":
        return (1.0 - x) ** gamma
    raise ValueError(f"advantage.seed_scaling={scaling!r} is not a scaling; allowed values: {list(SEED_SCALINGS)}")
