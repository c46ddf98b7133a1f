"""Excitation signals for identification experiments: PRBS and steps (``[K]`` arrays, dt = 1 step)."""

from __future__ import annotations

import numpy as np

__all__ = ["prbs_signal", "step_signal"]


def prbs_signal(num_steps: int, period: int = 10, order: int = 7, shift: int = 0) -> np.ndarray:
    """Maximum-length pseudo-random binary sequence of +/-1, each bit held ``period`` steps.

    Parameters
    ----------
    num_steps : int
        Length of the signal.
    period : int, optional
        Clock period: steps each bit is held (default 10). Longer periods put more power at low
        frequencies, where a slow plant needs it.
    order : int, optional
        Length ``n`` of the linear-feedback shift register, 3 to 10 (default 7): the sequence
        repeats every ``2**n - 1`` bits.
    shift : int, optional
        Start ``shift`` bits into the sequence (different realisations for different runs).

    Returns
    -------
    numpy.ndarray
        ``[num_steps]`` values in ``{-1, +1}``.
    """
    taps = {3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5), 10: (10, 7)}
    if order not in taps:
        raise ValueError(f"prbs order must be one of {sorted(taps)}, got {order}")
    if period < 1 or num_steps < 1:
        raise ValueError(f"prbs needs period >= 1 and num_steps >= 1, got {period} and {num_steps}")
    length = 2**order - 1
    state, bits = [1] * order, []
    for _ in range(length):
        bits.append(state[-1])
        feedback = 0
        for tap in taps[order]:
            feedback ^= state[tap - 1]
        state = [feedback, *state[:-1]]
    sequence = np.array(bits, dtype=float) * 2.0 - 1.0
    index = (np.arange(num_steps) // period + shift) % length
    return sequence[index]


def step_signal(num_steps: int, at: int = 0) -> np.ndarray:
    """Unit step ``[num_steps]``: 0 before step ``at``, 1 from it on."""
    return (np.arange(num_steps) >= at).astype(float)
