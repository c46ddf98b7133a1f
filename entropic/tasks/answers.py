"""Answer ids: a response's final answer as an integer, the cluster key of semantic entropy.

The verifiers write the canonical text of the answer they parsed (:attr:`Verdict.answer`); responses
whose texts are equal mean the same. :func:`answer_id` turns that text into a non-negative int64
with an unkeyed BLAKE2b digest, the same in every process (Python's ``hash`` of a string is salted
per process), and ``None`` (no parseable answer) into ``-1``.
"""

from __future__ import annotations

import hashlib

NO_ANSWER = -1
"""The id of a response without a parseable answer (:attr:`entropic.protocol.Rollout.answer`)."""


def answer_id(text: str | None) -> int:
    """The id of the answer ``text``: 64 bits of its BLAKE2b digest with the sign bit cleared, or
    :data:`NO_ANSWER` for ``None``. Two different texts share an id with probability ``2^-63``."""
    if text is None:
        return NO_ANSWER
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)
