"""Wake-ups: nothing in the engine polls the database in a tight loop.

A claim long-poll waits on an event for its (account, handler) pairs; whoever makes a job
claimable sets it. The scheduler, the admission service and the dispatcher have their own
events, set when a schedule changes, a job gets a new ``run_at`` or a push job is queued.

What the dashboard shows changed: ``changed(account, topic)`` (``jobs``, ``schedules``,
``workers``, ``monitors``, ``alerts``), coalesced to at most one message per account and topic every
:data:`CHANGE_COALESCE_SECONDS`, so a busy queue costs a few messages a second, not one per job.
Live pages listen with :meth:`Notifier.on_change`.

Every event also goes to ``broadcast`` when one is attached: in a cluster, the PostgreSQL
bridge (:mod:`chronos.server.engine.cluster`) carries it to the other nodes with
``NOTIFY``, and hands what they send to :meth:`Notifier.receive`.

:meth:`Notifier.shut_down` (SIGTERM) is local: it sets ``shutting_down`` and wakes every claim
long-poll on this node, which then answers at once with no jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# A wake-up as it travels between nodes: (kind, account id, handler or job id).
Message = tuple[str, str, str]

CHANGE_COALESCE_SECONDS = 0.25
TOPICS = ("jobs", "schedules", "workers", "monitors", "alerts")


class Notifier:
    def __init__(self) -> None:
        self._claim_waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self.scheduler_wakeup = asyncio.Event()
        self.admission_wakeup = asyncio.Event()
        self.lease_wakeup = asyncio.Event()
        self.dispatch_wakeup = asyncio.Event()
        self._cancel_listeners: list[Callable[[str], None]] = []
        self._change_listeners: list[Callable[[str, str], None]] = []
        self._changes: set[tuple[str, str]] = set()
        self._changes_flush: asyncio.TimerHandle | None = None
        self.broadcast: Callable[[Message], None] | None = None
        # Set when this node begins shutting down: claims take no new work and stop waiting.
        self.shutting_down = asyncio.Event()

    @contextmanager
    def waiting_for_jobs(self, account_id: str, handlers: Iterable[str]) -> Iterator[asyncio.Event]:
        """Register before looking for jobs, so a job made ready meanwhile is not missed."""
        event = asyncio.Event()
        if self.shutting_down.is_set():
            event.set()
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
        self._send(("ready", account_id, handler or ""))

    def jobs_ready_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Wake whoever takes these jobs next: claimers for ``ready``, the dispatcher for
        ``queued``."""
        rows = list(rows)
        accounts = {row["account_id"] for row in rows if row.get("account_id")}
        for message in _wakeups(rows):
            self._send(message)
        for account_id in accounts:
            self.changed(account_id, "jobs")

    def wake_claimers(self, account_id: str, handlers: Iterable[str]) -> None:
        """Let the claims waiting on ``handlers`` look again, on every node (batched with the
        other wake-ups of the moment)."""
        for handler in set(handlers):
            self._send(("ready", account_id, handler))

    def jobs_released(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Jobs released by this node as it shuts down: wake the other nodes only (this one
        takes no new work)."""
        if self.broadcast is None:
            return
        for message in _wakeups(rows):
            self.broadcast(message)

    def on_job_canceled(self, listener: Callable[[str], None]) -> None:
        self._cancel_listeners.append(listener)

    def job_canceled(self, job_id: str) -> None:
        self._send(("canceled", "", job_id))

    def schedules_changed(self) -> None:
        self._send(("schedules", "", ""))

    def pending_changed(self) -> None:
        self._send(("pending", "", ""))

    def on_change(self, listener: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``listener(account_id, topic)`` when something shown changes; returns a
        function that removes it."""
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener)

    def changed(self, account_id: str, topic: str) -> None:
        """Something ``account_id``'s pages show under ``topic`` changed (sent coalesced)."""
        self._changes.add((account_id, topic))
        if self._changes_flush is None:
            loop = asyncio.get_running_loop()
            self._changes_flush = loop.call_later(CHANGE_COALESCE_SECONDS, self.flush_changes)

    def flush_changes(self) -> None:
        """Send the changes gathered so far (the timer does it; tests call it directly)."""
        if self._changes_flush is not None:
            self._changes_flush.cancel()
        self._changes_flush = None
        changes, self._changes = self._changes, set()
        for account_id, topic in changes:
            self._send(("changed", account_id, topic))

    def _send(self, message: Message) -> None:
        self.receive(message)
        if self.broadcast is not None:
            self.broadcast(message)

    def receive(self, message: Message) -> None:
        """Act on a wake-up, from this node or another."""
        kind, account_id, key = message
        if kind == "ready":
            for event in self._claim_waiters.get((account_id, key), ()):
                event.set()
        elif kind == "queued":
            self.dispatch_wakeup.set()
        elif kind == "schedules":
            self.scheduler_wakeup.set()
        elif kind == "pending":
            self.admission_wakeup.set()
        elif kind == "canceled":
            for listener in self._cancel_listeners:
                listener(key)
        elif kind == "changed":
            for change_listener in list(self._change_listeners):
                change_listener(account_id, key)

    def shut_down(self) -> None:
        """This node is stopping: wake every claim waiting here so it answers with no jobs.

        Not broadcast: other nodes go on as before."""
        self.shutting_down.set()
        for waiters in list(self._claim_waiters.values()):
            for event in waiters:
                event.set()

    def wake_everything(self) -> None:
        """Wake every local waiter and service (after wake-ups may have been lost)."""
        for account_id, handler in list(self._claim_waiters):
            self.receive(("ready", account_id, handler))
        for kind in ("queued", "schedules", "pending"):
            self.receive((kind, "", ""))

    @property
    def claim_waiter_count(self) -> int:
        return sum(len(v) for v in self._claim_waiters.values())


def _wakeups(rows: Iterable[Mapping[str, Any]]) -> set[Message]:
    """The wake-ups for jobs that just became claimable: claimers for ``ready`` jobs, the
    dispatcher for ``queued`` ones."""
    seen: set[Message] = set()
    for row in rows:
        status = row.get("status", "ready")
        if status == "queued":
            seen.add(("queued", "", ""))
        elif status == "ready":
            seen.add(("ready", row["account_id"], row["handler"] or ""))
    return seen
