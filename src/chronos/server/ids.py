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
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    pairs = [_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)]
    return f"{prefix}_{''.join(pairs)}"
