"""A counter-based (stateless) random number generator in vectorised int64 torch ops.

Every uniform is a pure function of ``(run seed, counter, stream, index)``:

    key_r  = fold(fold(mix(seed_r + GAMMA), counter), stream)
    bits_j = mix(key_r + (j + 1) * GAMMA)                 # the SplitMix64 sequence seeded with key_r
    float64: u_i = top 53 bits of bits_i, times 2^-53
    float32: u_2j, u_2j+1 = bits 40-63 and 16-39 of bits_j, times 2^-24   (two draws a word)

with ``mix`` the SplitMix64 finaliser (Steele, Lea & Flood 2014) and ``fold(k, v) = mix(k ^ mix(v + GAMMA))``.
Draws of different runs never interact, so a run sees the same numbers alone or among thousands
of others, sampling is vectorised over runs, and resuming needs only the counter. Arithmetic is
modulo 2^64 (int64 multiplication wraps); ``>>`` on int64 is arithmetic, so logical shifts mask
the sign-extended bits.
"""

from __future__ import annotations

import torch

_U64 = 1 << 64
GAMMA = 0x9E3779B97F4A7C15
"""SplitMix64's increment (the golden ratio times 2^64)."""
MIX_1 = 0xBF58476D1CE4E5B9
MIX_2 = 0x94D049BB133111EB


def _signed(constant: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    return constant - _U64 if constant >= 1 << 63 else constant


def _shr(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns."""
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def mix(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser of int64 bit patterns (a bijection of 64-bit words), elementwise."""
    x = (x ^ _shr(x, 30)) * _signed(MIX_1)
    x = (x ^ _shr(x, 27)) * _signed(MIX_2)
    return x ^ _shr(x, 31)


def stream_keys(seeds: torch.Tensor, counter: int, stream: int) -> torch.Tensor:
    """Per-run keys of one draw.

    Parameters
    ----------
    seeds : LongTensor [R]
        Run seeds (any int64 values).
    counter : int
        Draw counter (e.g. the rollout number), ``>= 0``.
    stream : int
        Purpose of the draw (sampling, reward noise, ...), so that two purposes never share numbers.

    Returns
    -------
    LongTensor [R]
    """
    keys = mix(seeds.to(torch.long) + _signed(GAMMA))
    for value in (counter, stream):
        keys = mix(keys ^ mix(torch.full_like(keys, value) + _signed(GAMMA)))
    return keys


REDRAW_SHIFT = 40
"""A redraw's counter keeps its rollout's number in the low 40 bits (:func:`redraw_counter`)."""


def redraw_counter(counter: int, draw: int) -> int:
    """The RNG counter of draw ``draw`` of the rollout numbered ``counter``: ``counter + draw * 2^40``.

    Draw 0 is the rollout itself. Any other draw's counter differs from every rollout number below
    ``2^40`` and from every other draw's, so the extra draws of a step (dynamic sampling) share no
    numbers with any rollout and leave the streams of later rollouts untouched: a run's later steps
    do not depend on how many extra draws were made.

    Raises
    ------
    ValueError
        ``counter`` outside ``[0, 2^40)`` or ``draw`` outside ``[0, 2^23)``.
    """
    if not 0 <= counter < 1 << REDRAW_SHIFT or not 0 <= draw < 1 << (63 - REDRAW_SHIFT):
        raise ValueError(f"redraw_counter needs counter in [0, 2^{REDRAW_SHIFT}) and draw in "
                         f"[0, 2^{63 - REDRAW_SHIFT}), got counter={counter}, draw={draw}")
    return counter + (draw << REDRAW_SHIFT)


def random_bits(keys: torch.Tensor, n: int) -> torch.Tensor:
    """The first ``n`` outputs of SplitMix64 seeded with each key: LongTensor ``[R, n]``."""
    steps = torch.arange(1, n + 1, dtype=torch.long, device=keys.device) * _signed(GAMMA)  # [n]
    return mix(keys.unsqueeze(-1) + steps)


def uniform(seeds: torch.Tensor, counter: int, stream: int, n: int,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` uniforms in ``[0, 1)`` per run, a pure function of ``(seed, counter, stream, index)``.

    Parameters
    ----------
    seeds : LongTensor [R]
        Run seeds.
    counter, stream : int
        See :func:`stream_keys`.
    n : int
        Draws per run.
    dtype : torch.dtype
        ``float32`` (24 random bits, exact multiples of 2^-24; two draws from each 64-bit word)
        or ``float64`` (53 bits, one word a draw).

    Returns
    -------
    FloatTensor [R, n]
    """
    keys = stream_keys(seeds, counter, stream)
    if dtype != torch.float32:
        return _shr(random_bits(keys, n), 11).to(dtype) * 2.0 ** -53
    words = random_bits(keys, (n + 1) // 2)  # [R, ceil(n / 2)]
    fields = torch.empty(*words.shape, 2, dtype=torch.long, device=words.device)
    torch.bitwise_and(words >> 16, (1 << 24) - 1, out=fields[..., 1])
    fields[..., 0] = _shr(words, 40)
    return fields.view(words.shape[0], -1)[:, :n].to(dtype) * 2.0 ** -24


def sample_categorical(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draws: arm ``a`` with ``cdf[a-1] <= u * cdf[K-1] < cdf[a]``.

    The search is a branch-free binary search: ``ceil(log2 K)`` rounds of one gather and one
    comparison over all draws at once, into preallocated buffers (half of ``torch.searchsorted``'s
    time for small K); its answer is exactly ``searchsorted(cdf, u * cdf[K-1], right=True)``
    clamped to ``K - 1``, so an arm of probability 0 is never drawn.

    Parameters
    ----------
    probs : FloatTensor [..., K]
        Probabilities (rows need not sum to exactly 1: ``u`` is scaled by each row's total).
    u : FloatTensor [..., G]
        Uniforms in ``[0, 1)``, ``G`` draws per row.

    Returns
    -------
    LongTensor [..., G]
        Arm indices; ``K - 1`` where rounding puts ``u * total`` at the total.
    """
    K = probs.shape[-1]
    cdf = probs.cumsum(-1)  # [..., K]
    target = u * cdf[..., -1:]  # [..., G]
    step = 1 << max(K - 1, 0).bit_length() >> 1  # half the smallest power of two >= K
    if not step:
        return torch.zeros(target.shape, dtype=torch.long, device=target.device)
    # arms = count of the boundaries cdf[0 .. K-2] <= target found so far; the first probe, the same
    # boundary for every draw, is a broadcast comparison; later ones gather. For K not a power of two
    # a probe past K-2 reads cdf[K-2], which is <= target only when the answer is K-1 anyway.
    below = cdf[..., step - 1:step] <= target  # step - 1 <= K - 2
    arms = below.long().mul_(step)
    probe, probed = torch.empty_like(arms), torch.empty_like(target)
    step >>= 1
    while step:
        torch.add(arms, step - 1, out=probe)
        if K & (K - 1):
            probe.clamp_(max=K - 2)
        torch.gather(cdf, -1, probe, out=probed)
        torch.le(probed, target, out=below)
        arms.add_(below, alpha=step)
        step >>= 1
    return arms.clamp_(max=K - 1)
