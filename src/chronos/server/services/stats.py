"""What the queues hold right now, for the gauges of ``GET /metrics``.

    stats = await queue_stats(db, clock, max_handlers=100)   # None if the database is down

Read at scrape time, across accounts (no account ids come out). At most ``max_handlers``
handlers are reported by name, those with the most ready jobs; the ready jobs of all the
others are folded into the handler ``_other``. A database that is down or too slow to answer
within :data:`STATS_TIMEOUT_SECONDS` gives ``None`` and one warning line in the log: the
scrape still answers, with the counters only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from chronos.server.clock import Clock
from chronos.server.domain.states import JobStatus
from chronos.server.store import stats as stats_store
from chronos.server.store.db import Database
from chronos.server.store.errors import is_database_outage

log = logging.getLogger("chronos.metrics")

# The label of the ready jobs of the handlers beyond ``max_handlers``.
OTHER_HANDLERS = "_other"
# The whole read gets this long (a Prometheus scrape times out after 10 s by default) ...
STATS_TIMEOUT_SECONDS = 5.0
# ... and PostgreSQL cancels any one of its statements that runs longer than this.
STATEMENT_TIMEOUT_SECONDS = 4.0


@dataclass(frozen=True)
class Backlog:
    count: int
    # Since when the earliest of them has been due (0 when there are none).
    oldest_seconds: float


@dataclass(frozen=True)
class QueueStats:
    # Ready pull jobs by handler label (at most ``max_handlers`` names, then ``_other``).
    ready: dict[str, Backlog]
    # Push jobs waiting for the dispatcher.
    queued: Backlog
    # Jobs by status, every status present (0 when it has none).
    jobs: dict[str, int]


async def queue_stats(db: Database, clock: Clock, *, max_handlers: int) -> QueueStats | None:
    """The queues' depths and ages as of ``clock.now()``; None if the database cannot say."""
    try:
        async with asyncio.timeout(STATS_TIMEOUT_SECONDS):
            return await _read(db, clock, max(0, max_handlers))
    except Exception as exc:
        if is_database_outage(exc):
            first_line = (str(exc).splitlines() or [""])[0] or type(exc).__name__
            log.warning(
                "metrics: queue gauges skipped, the database did not answer: %s", first_line
            )
        else:
            log.exception("metrics: queue gauges skipped")
        return None


async def _read(db: Database, clock: Clock, max_handlers: int) -> QueueStats:
    async with db.read() as conn:
        await stats_store.limit_statement_time(conn, STATEMENT_TIMEOUT_SECONDS)
        named = await stats_store.ready_by_handler(conn, limit=max_handlers)
        other = None
        if len(named) >= max_handlers:  # there may be more handlers than get a name
            other = await stats_store.ready_other_handlers(conn, set(named))
        queued = await stats_store.queued_backlog(conn)
        by_status = await stats_store.jobs_by_status(conn)
    now = clock.now()
    ready: dict[str, Backlog] = {}
    for handler, backlog in named.items():
        _add(ready, handler or "", backlog, now)
    if other is not None and other.count:
        # A handler really named "_other" shares the label with the folded ones.
        _add(ready, OTHER_HANDLERS, other, now)
    return QueueStats(
        ready=ready,
        queued=_backlog(queued, now),
        jobs={status.value: by_status.get(status.value, 0) for status in JobStatus},
    )


def _age(oldest_run_at: datetime | None, now: datetime) -> float:
    if oldest_run_at is None:
        return 0.0
    return max(0.0, (now - oldest_run_at).total_seconds())


def _backlog(found: stats_store.Backlog, now: datetime) -> Backlog:
    return Backlog(found.count, _age(found.oldest_run_at, now))


def _add(into: dict[str, Backlog], label: str, found: stats_store.Backlog, now: datetime) -> None:
    backlog = _backlog(found, now)
    if label in into:
        earlier = into[label]
        backlog = Backlog(
            earlier.count + backlog.count, max(earlier.oldest_seconds, backlog.oldest_seconds)
        )
    into[label] = backlog
