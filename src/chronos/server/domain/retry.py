"""Retry policy: how long to wait before attempt ``n + 1`` after attempt ``n`` failed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from chronos.server.domain.rows import RetryPolicyData


@dataclass(frozen=True)
class RetryPolicy:
    initial_interval: float = 1.0
    multiplier: float = 2.0
    max_interval: float = 3600.0
    # Up to this fraction of the delay is added at random, so retries of many jobs that failed
    # together do not hit the target together again.
    jitter: float = 0.1

    @classmethod
    def from_dict(cls, data: RetryPolicyData) -> RetryPolicy:
        return cls(
            initial_interval=float(data["initial_interval"]),
            multiplier=float(data["multiplier"]),
            max_interval=float(data["max_interval"]),
        )

    def base_delay(self, attempt: int) -> float:
        """min(max_interval, initial_interval * multiplier^(attempt - 1)), without jitter."""
        exponent = max(0, attempt - 1)
        try:
            delay = self.initial_interval * self.multiplier**exponent
        except OverflowError:
            delay = self.max_interval
        return min(self.max_interval, delay)

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        base = self.base_delay(attempt)
        spread = (rng or random).uniform(0, self.jitter * base)
        return timedelta(seconds=base + spread)
