"""The shape of a background duty: ``run_once()`` does one round and says what it did; ``run()``
loops around it, sleeping until the next known deadline or a wake-up event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from chronos.server.clock import Clock
from chronos.server.store.errors import is_database_outage

log = logging.getLogger("chronos.engine")


class Service(ABC):
    name: str = "service"
    # Longest sleep between rounds, so a lost wake-up only delays work, never strands it.
    max_idle_seconds: float = 1.0

    def __init__(self, clock: Clock, wakeup: asyncio.Event | None = None) -> None:
        self.clock = clock
        self.wakeup = wakeup or asyncio.Event()

    @abstractmethod
    async def run_once(self) -> Any:
        """Do one round of work and return a summary (tests assert on it)."""

    async def next_deadline(self) -> datetime | None:
        """When there will next be work, if known; None means "sleep the maximum"."""
        return None

    def has_more(self, result: Any) -> bool:
        """True when ``run_once`` stopped at its batch limit and should run again at once."""
        return False

    async def run(self) -> None:
        failures = 0
        while True:
            self.wakeup.clear()
            try:
                result = await self.run_once()
                failures = 0
                if self.has_more(result):
                    await asyncio.sleep(0)
                    continue
                deadline = await self.next_deadline()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                # Short cap: after a database outage, work resumes within seconds.
                delay = min(5.0, 0.25 * 2 ** min(failures, 6))
                if is_database_outage(exc):
                    log.warning(
                        "%s: database unavailable (%s); retrying in %.1fs",
                        self.name,
                        str(exc).splitlines()[0][:200],
                        delay,
                    )
                else:
                    log.exception(
                        "%s failed (%d in a row); retrying in %.1fs", self.name, failures, delay
                    )
                await self._sleep(delay)
                continue
            timeout = self.max_idle_seconds
            if deadline is not None:
                timeout = max(0.0, min(timeout, (deadline - self.clock.now()).total_seconds()))
            await self._sleep(timeout)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
        # arrives as the wake-up fires, and the service would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wakeup.wait()
