"""In-process wake-ups: nothing in the engine polls the database in a tight loop.

A claim long-poll waits on an event for its (account, handler) pairs; whoever makes a job
claimable sets it. The scheduler and the admission service have their own events, set when a
schedule changes or a job is given a new ``run_at``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


class Notifier:
    def __init__(self) -> None:
        self._claim_waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self.scheduler_wakeup = asyncio.Event()
        self.admission_wakeup = asyncio.Event()
        self.lease_wakeup = asyncio.Event()
        self.dispatch_wakeup = asyncio.Event()
        self._cancel_listeners: list[Callable[[str], None]] = []

    @contextmanager
    def waiting_for_jobs(self, account_id: str, handlers: Iterable[str]) -> Iterator[asyncio.Event]:
        """Register before looking for jobs, so a job made ready meanwhile is not missed."""
        event = asyncio.Event()
        keys = [(account_id, handler) for handler in set(handlers)]
        for key in keys:
            self._claim_waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            for key in keys:
                waiters = self._claim_waiters.get(key)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._claim_waiters[key]

    def jobs_ready(self, account_id: str, handler: str | None) -> None:
        for event in self._claim_waiters.get((account_id, handler or ""), ()):
            event.set()

    def jobs_ready_many(self, rows: Iterable[dict]) -> None:
        """Wake whoever takes these jobs next: claimers for ``ready``, the dispatcher for
        ``queued``."""
        seen = set()
        for row in rows:
            status = row.get("status", "ready")
            if status == "queued":
                self.dispatch_wakeup.set()
            if status != "ready":
                continue
            key = (row["account_id"], row["handler"])
            if key not in seen:
                seen.add(key)
                self.jobs_ready(*key)

    def on_job_canceled(self, listener: Callable[[str], None]) -> None:
        self._cancel_listeners.append(listener)

    def job_canceled(self, job_id: str) -> None:
        for listener in self._cancel_listeners:
            listener(job_id)

    def schedules_changed(self) -> None:
        self.scheduler_wakeup.set()

    def pending_changed(self) -> None:
        self.admission_wakeup.set()

    @property
    def claim_waiter_count(self) -> int:
        return sum(len(v) for v in self._claim_waiters.values())
