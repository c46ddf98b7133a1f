"""pass@k: the chance that at least one of k attempts is correct.

- :func:`pass_at_k`: the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language
  Models Trained on Code", arXiv 2107.03374) from ``n`` samples of which ``c`` are correct;
- :func:`pass_at_k_from_probability`: the exact value ``1 - (1 - p)^k`` when the per-attempt
  success probability ``p`` is known (a bandit whose policy is enumerated).
"""

from __future__ import annotations

import torch

Count = int | torch.Tensor
"""An integer, or an integer-valued tensor; all arguments broadcast together."""


def pass_at_k(num_samples: Count, num_correct: Count, k: Count) -> torch.Tensor:
    """Unbiased pass@k estimate ``1 - C(n - c, k) / C(n, k)``, vectorised.

    Parameters
    ----------
    num_samples : int or LongTensor [...]
        ``n``, samples drawn per problem.
    num_correct : int or LongTensor [...]
        ``c``, correct samples among them, ``0 <= c <= n``.
    k : int or LongTensor [...]
        Attempts, ``1 <= k <= n``.

    Returns
    -------
    DoubleTensor [...]
        The broadcast shape of the arguments. 0 when ``c = 0``, 1 when ``n - c < k`` (every
        k-subset holds a correct sample), else ``1 - prod_{i=n-c+1}^{n} (1 - k / i)``.

    Notes
    -----
    The product form (Chen et al.'s numpy estimator) avoids binomial coefficients, which
    overflow for ``n`` in the hundreds. It is summed in log space, ``1 - exp(sum log1p(-k/i))``
    via ``expm1``, in float64, over a ``[..., max n]`` tensor.
    """
    n, c, k = torch.broadcast_tensors(*(torch.as_tensor(x, dtype=torch.float64)
                                        for x in (num_samples, num_correct, k)))
    _check_counts(n, c, k)
    max_samples = int(n.max()) if n.numel() else 0
    i = torch.arange(1, max_samples + 1, dtype=torch.float64, device=n.device)  # [M]
    n_, c_, k_ = n.unsqueeze(-1), c.unsqueeze(-1), k.unsqueeze(-1)  # [..., 1]
    in_product = (i > n_ - c_) & (i <= n_) & (i > k_)  # [..., M]
    log_factor = torch.log1p(-(k_ / i).clamp(max=1.0))  # log(1 - k / i), -inf where i <= k
    log_all_fail = torch.where(in_product, log_factor, 0.0).sum(-1)  # [...]
    return torch.where(n - c < k, 1.0, 0.0 - torch.expm1(log_all_fail))  # 0.0 - : no -0.0 when c = 0


def _check_counts(n: torch.Tensor, c: torch.Tensor, k: torch.Tensor) -> None:
    for name, x in (("num_samples", n), ("num_correct", c), ("k", k)):
        if not torch.equal(x, x.round()):
            raise ValueError(f"pass_at_k: {name} must be integer-valued")
    if bool((c < 0).any() or (c > n).any()):
        raise ValueError("pass_at_k: num_correct must lie in [0, num_samples]")
    if bool((k < 1).any() or (k > n).any()):
        raise ValueError("pass_at_k: k must lie in [1, num_samples] (the estimator needs n >= k)")


def pass_at_k_from_probability(success_probability: torch.Tensor, k: Count) -> torch.Tensor:
    """Exact pass@k ``1 - (1 - p)^k`` of ``k`` independent attempts with success probability ``p``.

    Parameters
    ----------
    success_probability : FloatTensor [...]
        ``p`` in ``[0, 1]``.
    k : int or LongTensor [...]
        Attempts, ``k >= 1``; broadcast with ``p``.

    Returns
    -------
    FloatTensor [...]
        ``-expm1(k * log1p(-p))``: accurate for tiny ``p`` (``~ k p``) and exactly 1 at ``p = 1``;
        the limit of :func:`pass_at_k` as ``n -> inf`` with ``c / n -> p``.
    """
    p = success_probability
    if bool((p < 0).any() or (p > 1).any()):
        raise ValueError("pass_at_k_from_probability: success_probability must lie in [0, 1]")
    k = torch.as_tensor(k, dtype=p.dtype, device=p.device)
    if bool((k < 1).any()):
        raise ValueError("pass_at_k_from_probability: k must be >= 1")
    return -torch.expm1(k * torch.log1p(-p))
