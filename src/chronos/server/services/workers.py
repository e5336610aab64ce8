"""Who is doing the work: the pull workers polling an account and the push targets it sends
to. Used by ``GET /v1/workers`` and the dashboard's workers page.

Workers are recorded by their claims (``ExecutionService.claim`` → ``workers`` table, at most
every few seconds); a worker seen in the last :data:`WORKERS_SEEN_WITHIN` is listed, and one
not seen for :data:`~chronos.server.domain.thresholds.WORKER_ALIVE_SECONDS` shows as gone.
Push targets are the ``scheme://host:port`` of push jobs' URLs, with counts, success rate and
latency percentiles over the last :data:`PUSH_WINDOW` of push executions (at most
:data:`PUSH_SAMPLE_LIMIT` of the newest).

    workers = WorkerService(db, clock)
    view = await workers.activity(account_id)
    view.workers[0].in_flight, view.push_targets[0].p95_ms
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from chronos.server.clock import Clock
from chronos.server.domain.states import ExecutionStatus
from chronos.server.domain.thresholds import WORKER_ALIVE_SECONDS
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import workers as worker_store
from chronos.server.store.db import Database
from chronos.server.store.workers import PushSample

WORKERS_SEEN_WITHIN = timedelta(minutes=10)
PUSH_WINDOW = timedelta(hours=1)
PUSH_SAMPLE_LIMIT = 5000
MAX_PUSH_TARGETS = 100
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Worker:
    worker_id: str
    handlers: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    in_flight: int  # running executions it holds
    gone: bool  # not seen for more than WORKER_ALIVE_SECONDS


@dataclass(frozen=True)
class PushTarget:
    target: str  # scheme://host:port
    count: int
    completed: int
    p50_ms: int | None
    p95_ms: int | None
    last_finished_at: datetime

    @property
    def failed(self) -> int:
        return self.count - self.completed

    @property
    def success_rate(self) -> float:
        return self.completed / self.count


@dataclass(frozen=True)
class WorkersView:
    now: datetime
    workers: list[Worker]
    more_workers: bool  # more were seen than the list holds
    push_targets: list[PushTarget]
    push_sampled: int  # push executions the targets' figures come from
    push_capped: bool  # PUSH_SAMPLE_LIMIT was reached: the figures cover the newest only


class WorkerService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def activity(self, account_id: str, *, limit: int = 100) -> WorkersView:
        """Workers seen recently (most recent first, at most ``limit``) with the jobs each is
        running, and the push targets of the last hour."""
        now = self.clock.now()
        async with self.db.read() as conn:
            seen = await dashboard_store.worker_list(
                conn, account_id, seen_since=now - WORKERS_SEEN_WITHIN, limit=limit + 1
            )
            seen, more = seen[:limit], len(seen) > limit
            running = await worker_store.worker_running_counts(
                conn, account_id, [row["worker_id"] for row in seen]
            )
            samples = await worker_store.push_executions_recent(
                conn, account_id, since=now - PUSH_WINDOW, limit=PUSH_SAMPLE_LIMIT
            )
        alive_since = now - timedelta(seconds=WORKER_ALIVE_SECONDS)
        workers = [
            Worker(
                worker_id=row["worker_id"],
                handlers=list(row["handlers"] or []),
                first_seen_at=row["first_seen_at"],
                last_seen_at=row["last_seen_at"],
                in_flight=running.get(row["worker_id"], 0),
                gone=row["last_seen_at"] < alive_since,
            )
            for row in seen
        ]
        return WorkersView(
            now=now,
            workers=workers,
            more_workers=more,
            push_targets=push_targets(samples)[:MAX_PUSH_TARGETS],
            push_sampled=len(samples),
            push_capped=len(samples) >= PUSH_SAMPLE_LIMIT,
        )


def push_targets(samples: Sequence[PushSample]) -> list[PushTarget]:
    """Samples grouped by target, busiest first."""
    groups: dict[str, list[PushSample]] = {}
    for sample in samples:
        http = sample["delivery"].get("http") or {}
        groups.setdefault(target_of(str(http.get("url", ""))), []).append(sample)
    found = []
    for target, group in groups.items():
        durations = sorted(s["duration_ms"] for s in group if s["duration_ms"] is not None)
        found.append(
            PushTarget(
                target=target,
                count=len(group),
                completed=sum(s["status"] == ExecutionStatus.COMPLETED for s in group),
                p50_ms=percentile(durations, 0.50),
                p95_ms=percentile(durations, 0.95),
                last_finished_at=max(s["finished_at"] for s in group),
            )
        )
    found.sort(key=lambda t: (-t.count, t.target))
    return found


def target_of(url: str) -> str:
    """``https://api.example.com:443`` for ``https://api.example.com/hooks?x=1``: where a
    request goes, without its path, query or credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return "(invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    port = port or DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def percentile(ordered: Sequence[int], fraction: float) -> int | None:
    """The nearest-rank percentile of sorted values (None for none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
