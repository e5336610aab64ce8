"""Opaque, prefixed, time-sortable identifiers: ``job_01JD3…``.

The body is a ULID-style 26-character Crockford base32 string: 48 bits of milliseconds since the
epoch followed by 80 random bits, so ids sort by creation time.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Two characters per 10 bits: ids are made on every hot path, so 13 lookups instead of 26 divmods.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    millis = int(time.time() * 1000) if at_ms is None else at_ms
    return _encode(prefix, (millis << 80) | int.from_bytes(os.urandom(10), "big"))


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids at once: one clock read, one read of the random source, and the time part
    (the top 50 bits: 48 of milliseconds, 2 of padding) encoded once for all of them."""
    head = _encode(prefix, (int(time.time() * 1000) << 80))[: len(prefix) + 11]
    randomness = os.urandom(10 * count)
    pairs = _PAIRS
    ids = []
    for start in range(0, 10 * count, 10):
        value = int.from_bytes(randomness[start : start + 10], "big")  # 80 bits: 8 pairs
        ids.append(
            head
            + pairs[value >> 70]
            + pairs[(value >> 60) & 1023]
            + pairs[(value >> 50) & 1023]
            + pairs[(value >> 40) & 1023]
            + pairs[(value >> 30) & 1023]
            + pairs[(value >> 20) & 1023]
            + pairs[(value >> 10) & 1023]
            + pairs[value & 1023]
        )
    return ids


def id_floor(prefix: str, at_ms: int) -> str:
    """The smallest id made at or after ``at_ms``: ``id >= id_floor(…)`` selects rows created
    since then through an index on the id (ids sort by creation time)."""
    return _encode(prefix, at_ms << 80)


def _encode(prefix: str, value: int) -> str:
    pairs = [_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)]
    return f"{prefix}_{''.join(pairs)}"
