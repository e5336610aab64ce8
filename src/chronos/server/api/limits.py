"""Per-key limits, per node: a request rate (token bucket) and concurrent long-polls.

    limiter = RateLimiter(per_second=50)          # off unless CHRONOS_RATE_LIMIT is set
    limiter.take("key_…")                         # None, or seconds until a request is allowed
    with long_polls.slot("key_…"):                # RateLimited (429) past the cap
        ...

Both answer ``429 rate_limited`` with ``Retry-After``. They count on each node separately: a
cluster of N nodes behind a load balancer allows up to N times the configured rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from chronos.server.errors import RateLimited


class RateLimiter:
    """A token bucket per key: ``per_second`` requests a second, bursts of ``burst``."""

    def __init__(
        self,
        per_second: float,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if per_second <= 0:
            raise ValueError("a rate limit must be more than 0 requests a second")
        self.per_second = per_second
        self.burst = burst if burst is not None else max(1.0, per_second)
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def take(self, key: str) -> float | None:
        """Spend one token: None if the request may go, else the seconds until it could."""
        now = self._monotonic()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.per_second
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._buckets.clear()  # a flood of keys: forget, rather than grow without bound
        self._buckets[key] = (tokens - 1.0, now)
        return None

    def check(self, key: str) -> None:
        wait = self.take(key)
        if wait is not None:
            raise RateLimited(
                f"more than {self.per_second:g} requests a second with this key",
                retry_after=max(1, math.ceil(wait)),
            )


class LongPollLimiter:
    """At most ``per_key`` claim long-polls held open at once by one key."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[str, int] = {}

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        if self._open.get(key, 0) >= self.per_key:
            raise RateLimited(
                f"this key already holds {self.per_key} waiting claims: claim more jobs per "
                "request (limit) instead of opening more long-polls",
                retry_after=1,
            )
        self._open[key] = self._open.get(key, 0) + 1
        try:
            yield
        finally:
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]

    def open_for(self, key: str) -> int:
        return self._open.get(key, 0)
