"""Supervised background services: start them, restart them when they die, report the failing.

Each runner (anything with ``name`` and ``async def run()``, which should run until cancelled)
runs in a task named ``chronos:<name>``. When ``run()`` raises or returns, the death is logged
once with its traceback and the runner is restarted after a backoff (0.5 s doubling to 30 s,
back to 0.5 s once a run lasted 60 s); each restart counts in
``chronos_service_restarts_total{service=...}``. A runner that died 3 times within 5 minutes
is *failing* until it has stayed up for 5 minutes::

    supervisor = Supervisor()
    supervisor.start([Scheduler(db, clock, notifier), bridge])
    supervisor.failing()        # {"scheduler": "RuntimeError: boom"} while it crash-loops
    await supervisor.stop()     # cancels and waits; not a crash, not a restart

Tests pass ``sleep`` (the backoff wait) and ``monotonic`` (the time used for windows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from chronos.server.metrics import SERVICE_RESTARTS

log = logging.getLogger("chronos.supervisor")


class Runner(Protocol):
    name: str

    async def run(self) -> None: ...


class ServiceHealth:
    """Deaths of one service: recent ones, the last error, and whether it counts as failing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.restarts = 0
        self.last_error: str | None = None
        self.up_since: float | None = None  # None while dead or waiting to restart
        self.deaths: deque[float] = deque()
        self.flagged = False

    def died(self, now: float, error: str, *, limit: int, window: float) -> None:
        self.up_since = None
        self.last_error = error
        self.deaths.append(now)
        while self.deaths and self.deaths[0] <= now - window:
            self.deaths.popleft()
        if len(self.deaths) >= limit:
            self.flagged = True

    def is_failing(self, now: float, window: float) -> bool:
        if self.flagged and self.up_since is not None and now - self.up_since >= window:
            self.flagged = False  # stayed up for a whole window: recovered
            self.deaths.clear()
        return self.flagged


class Supervisor:
    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        failing_deaths: int = 3,
        failing_window: float = 300.0,
    ) -> None:
        self._sleep = sleep
        self._monotonic = monotonic
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.failing_deaths = failing_deaths
        self.failing_window = failing_window
        self.health: dict[str, ServiceHealth] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, runners: Iterable[Runner]) -> None:
        """Start supervising ``runners`` (names must be unique among supervised runners)."""
        for runner in runners:
            if runner.name in self.tasks:
                raise ValueError(f"a service named {runner.name!r} is already supervised")
            state = self.health[runner.name] = ServiceHealth(runner.name)
            self.tasks[runner.name] = asyncio.create_task(
                self._supervise(runner, state), name=f"chronos:{runner.name}"
            )

    async def stop(self) -> None:
        """Cancel every runner and wait for them to finish."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    def failing(self) -> dict[str, str]:
        """Failing services by name, each with its last error on one line."""
        now = self._monotonic()
        return {
            name: state.last_error or "unknown error"
            for name, state in self.health.items()
            if state.is_failing(now, self.failing_window)
        }

    async def _supervise(self, runner: Runner, state: ServiceHealth) -> None:
        delay = self.initial_backoff
        while True:
            started = state.up_since = self._monotonic()
            try:
                await runner.run()
            except Exception as exc:
                error = _one_line(exc)
                failure: BaseException | None = exc
            else:
                error, failure = "run() returned", None
            now = self._monotonic()
            if now - started >= self.stable_after:
                delay = self.initial_backoff
            state.died(now, error, limit=self.failing_deaths, window=self.failing_window)
            log.error(
                "service %s %s; restarting in %.1fs",
                runner.name,
                "crashed" if failure is not None else "returned unexpectedly",
                delay,
                exc_info=failure,
            )
            await self._sleep(delay)
            delay = min(delay * 2, self.max_backoff)
            state.restarts += 1
            SERVICE_RESTARTS.labels(service=runner.name).inc()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
