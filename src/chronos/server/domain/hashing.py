"""Stable per-schedule numbers: Jenkins-style ``H`` cron tokens, the ``spread`` offset and the
per-slot ``jitter`` delay.

Each comes from SHA-256, never from Python's ``hash()`` (salted per process): every node, every
restart and every version of Chronos computes the same value, so two scheduler nodes agree on
a slot and a re-run of a scheduler round cannot move a job.

- ``H`` tokens and the ``spread`` offset are derived from the schedule's *name*: the same name
  fires at the same minute in every account and on every server.
- The ``jitter`` delay is derived from the schedule's *id* and the slot: each fire of a schedule
  gets its own delay, identical however many times it is computed.

    >>> resolve_hashes("H H * * *", "nightly-report")
    '54 0 * * *'
    >>> resolve_hashes("H/15 * * * *", "nightly-report")
    '9-59/15 * * * *'
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime, timedelta

# (lowest, highest) a plain ``H`` / ``H/n`` draws from, per field, seconds first. Day of month
# stops at 28 so the drawn day exists in every month (as in Jenkins); day of week stops at 6
# (0 and 7 are both Sunday).
_HASH_RANGES = ((0, 59), (0, 59), (0, 23), (1, 28), (1, 12), (0, 6))
# What an explicit ``H(a-b)`` may name, per field.
_FIELD_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_HASH_TERM = re.compile(r"^H(?:\((\d{1,2})-(\d{1,2})\))?(?:/(\d{1,3}))?$", re.IGNORECASE)


class HashError(ValueError):
    """An ``H`` token that cannot be resolved (bad range or step, or no name to hash)."""


def stable_int(*parts: str) -> int:
    """A 64-bit number from ``parts``, the same on every machine and in every process."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stable_fraction(*parts: str) -> float:
    """A number in ``[0, 1)`` from ``parts`` (see :func:`stable_int`)."""
    return stable_int(*parts) / 2**64


def has_hashes(expression: str) -> bool:
    """True if some cron field holds an ``H`` term."""
    return any(term[:1] in ("H", "h") for field in expression.split() for term in field.split(","))


@functools.lru_cache(maxsize=4096)
def resolve_hashes(expression: str, seed: str) -> str:
    """``expression`` with every ``H`` term replaced by plain cron syntax drawn from ``seed``.

    ``H`` → one value of the field; ``H(a-b)`` → one value in ``a..b``; ``H/n`` → every
    ``n``-th value from a drawn start in ``0..n-1`` (``7-59/15``); ``H(a-b)/n`` → every
    ``n``-th value of ``a..b`` from a drawn start. Each term draws its own number, so
    ``H H * * *`` does not run at 05:05 for everyone who hashes to 5. Other terms are left as
    written; a 5-field expression's fields are minute, hour, day of month, month, day of week
    (a 6-field one starts with seconds).
    """
    fields = expression.split()
    first = 1 if len(fields) == 5 else 0  # index into the seconds-first tables
    out = []
    for position, field in enumerate(fields):
        index = position + first
        if index >= len(_HASH_RANGES):
            out.append(field)
            continue
        terms = [
            _resolve_term(term, index, f"{position}.{number}", seed)
            for number, term in enumerate(field.split(","))
        ]
        out.append(",".join(terms))
    return " ".join(out)


def _resolve_term(term: str, index: int, draw: str, seed: str) -> str:
    if term[:1] not in ("H", "h"):
        return term
    name = _FIELD_NAMES[index]
    match = _HASH_TERM.match(term)
    if match is None:
        raise HashError(
            f"invalid H term {term!r} in the {name} field: use H, H(a-b), H/n or H(a-b)/n"
        )
    low_text, high_text, step_text = match.groups()
    if low_text is None:
        low, high = _HASH_RANGES[index]
    else:
        low, high = int(low_text), int(high_text)
        bound_low, bound_high = _FIELD_BOUNDS[index]
        if not bound_low <= low <= high <= bound_high:
            raise HashError(
                f"invalid H range {term!r} in the {name} field: "
                f"use H(a-b) with {bound_low} <= a <= b <= {bound_high}"
            )
    number = stable_int(seed, "cron", draw)
    if step_text is None:
        return str(low + number % (high - low + 1))
    step = int(step_text)
    if not 1 <= step <= high - low + 1:
        raise HashError(
            f"invalid H step {term!r} in the {name} field: "
            f"the step must be from 1 to {high - low + 1}"
        )
    start = low + number % step
    return f"{start}-{high}/{step}"


def spread_offset(seed: str, spread: float) -> int:
    """Whole seconds in ``[0, spread)`` every slot of the schedule named ``seed`` is moved
    by; 0 when ``spread`` is under a second."""
    if spread < 1:
        return 0
    return int(stable_fraction(seed, "spread") * spread)


def jitter_delay(schedule_id: str, slot: datetime, jitter: float) -> timedelta:
    """The delay in ``[0, jitter]`` (whole milliseconds) of the job of ``schedule_id``'s
    ``slot``: the same on every node and every time it is computed."""
    span_ms = round(jitter * 1000)
    if span_ms <= 0:
        return timedelta(0)
    stamp = slot.astimezone(UTC).isoformat()
    return timedelta(milliseconds=stable_int(schedule_id, "jitter", stamp) % (span_ms + 1))
