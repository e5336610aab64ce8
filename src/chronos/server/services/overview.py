"""An account at a glance: the dashboard's home page and ``GET /v1/overview``.

Jobs by status, what fired and finished in the last hour and day (success rate, late, missed,
skipped), pull jobs waiting with no worker polling for their handler, the next fires, and what
needs attention: failing schedules, overdue fires, missed slots, handlers nobody serves,
schedules paused for a long time, enabled schedules with no next fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import Clock
from chronos.server.domain.monitors import monitor_problem, monitor_state
from chronos.server.domain.rows import ScheduleEventRow, ScheduleRow
from chronos.server.domain.states import JobStatus, ScheduleEventKind, ScheduleState
from chronos.server.domain.thresholds import LATE_AFTER_SECONDS, WORKER_ALIVE_SECONDS
from chronos.server.store import alerts as alert_store
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import monitors as monitor_store
from chronos.server.store import overview as overview_store
from chronos.server.store.db import Database
from chronos.server.store.tables import schedules

# An enabled schedule whose next fire is this far in the past is overdue (the scheduler is
# down or behind).
OVERDUE_AFTER_SECONDS = 60.0
PAUSED_LONG = timedelta(days=1)
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
ATTENTION_LIMIT = 20


@dataclass(frozen=True)
class WindowStats:
    completed: int
    failed: int
    fired: int
    late: int
    skipped: int
    missed: int

    @property
    def success_rate(self) -> float | None:
        finished = self.completed + self.failed
        return self.completed / finished if finished else None


@dataclass(frozen=True)
class Waiting:
    handler: str | None
    count: int
    oldest_run_at: datetime
    has_worker: bool


@dataclass(frozen=True)
class Attention:
    kind: str  # failing, overdue, missed, no_worker, paused_long, no_next_fire
    message: str
    schedule_id: str | None = None
    schedule_name: str | None = None
    handler: str | None = None
    monitor_id: str | None = None
    monitor_name: str | None = None
    alert_id: str | None = None  # kind "alert": a firing alert (the dashboard links /alerts)

    @classmethod
    def about(cls, kind: str, message: str, row: ScheduleRow) -> Attention:
        return cls(kind, message, row["id"], row["name"])


@dataclass
class Overview:
    now: datetime
    jobs_by_status: dict[str, int]
    schedules_by_state: dict[str, int]
    windows: dict[str, WindowStats]
    waiting: list[Waiting]
    next_fires: list[ScheduleRow]
    attention: list[Attention] = field(default_factory=list)
    # Heartbeat monitors by their state now (``late`` included: it depends on the time).
    monitors_by_state: dict[str, int] = field(default_factory=dict)


class OverviewService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def overview(self, account_id: str, *, next_fires: int = 10) -> Overview:
        now = self.clock.now()
        async with self.db.read() as conn:
            by_status = await overview_store.job_status_counts(conn, account_id)
            by_state = await overview_store.schedule_state_counts(conn, account_id)
            windows = {}
            # Missed slots are read once, for the widest window; each window counts its own.
            missed = await overview_store.recent_events(
                conn, account_id, ScheduleEventKind.MISSED, now - max(WINDOWS.values()), limit=1000
            )
            for label, span in WINDOWS.items():
                since = now - span
                finished = await overview_store.finished_since(conn, account_id, since)
                fired, late, skipped = await overview_store.fires_since(
                    conn, account_id, since, late_after=LATE_AFTER_SECONDS
                )
                windows[label] = WindowStats(
                    completed=finished.get(JobStatus.COMPLETED, 0),
                    failed=finished.get(JobStatus.FAILED, 0),
                    fired=fired - skipped,
                    late=late,
                    skipped=skipped,
                    missed=sum(
                        int((e["details"] or {}).get("count", 1))
                        for e, _ in missed
                        if e["at"] >= since
                    ),
                )
            ready = await overview_store.ready_by_handler(conn, account_id, now)
            workers = await dashboard_store.worker_list(
                conn, account_id, seen_since=now - timedelta(seconds=WORKER_ALIVE_SECONDS)
            )
            served = {handler for worker in workers for handler in worker["handlers"]}
            waiting = [
                Waiting(handler, count, oldest, handler in served)
                for handler, count, oldest in ready
            ]
            upcoming = await overview_store.next_fires(conn, account_id, limit=next_fires)
            firing = await alert_store.alerts_firing(conn, account_id, limit=ATTENTION_LIMIT)
            attention = [
                Attention(
                    "alert", f"{alert['rule_name']}: {alert['summary']}", alert_id=alert["id"]
                )
                for alert in firing
            ]
            attention += await self._attention(conn, account_id, now, waiting, missed)
            monitor_rows = await monitor_store.monitor_list_all(conn, account_id)
        by_monitor_state: dict[str, int] = {}
        for monitor in monitor_rows:
            state = monitor_state(monitor, now).value
            by_monitor_state[state] = by_monitor_state.get(state, 0) + 1
            problem = monitor_problem(monitor, now)
            if problem is not None and len(attention) < 4 * ATTENTION_LIMIT:
                attention.append(
                    Attention(
                        f"monitor_{problem.kind}",
                        problem.summary,
                        monitor_id=monitor["id"],
                        monitor_name=monitor["name"],
                    )
                )
        return Overview(
            now, by_status, by_state, windows, waiting, upcoming, attention, by_monitor_state
        )

    async def _attention(
        self,
        conn: AsyncConnection,
        account_id: str,
        now: datetime,
        waiting: list[Waiting],
        missed: list[tuple[ScheduleEventRow, str]],
    ) -> list[Attention]:
        found: list[Attention] = []

        async def schedules_that(condition: sa.ColumnElement[bool]) -> list[ScheduleRow]:
            return await overview_store.schedules_where(
                conn, account_id, condition, limit=ATTENTION_LIMIT
            )

        enabled = schedules.c.state == ScheduleState.ENABLED.value
        for row in await schedules_that(schedules.c.last_status == JobStatus.FAILED.value):
            found.append(Attention.about("failing", "its last run failed", row))
        overdue = now - timedelta(seconds=OVERDUE_AFTER_SECONDS)
        for row in await schedules_that(sa.and_(enabled, schedules.c.next_run_at < overdue)):
            found.append(
                Attention.about("overdue", "its fire is overdue: is a scheduler running?", row)
            )
        reported: set[str] = set()
        for event, name in missed:  # newest first: one line per schedule, its latest miss
            if event["schedule_id"] not in reported:
                reported.add(event["schedule_id"])
                found.append(Attention("missed", event["note"] or "", event["schedule_id"], name))
        for item in waiting:
            if not item.has_worker:
                label = item.handler or "(no handler)"
                message = f"{item.count} job(s) waiting and no worker polling for {label}"
                found.append(Attention("no_worker", message, handler=item.handler))
        paused = sa.and_(
            schedules.c.state == ScheduleState.PAUSED.value,
            schedules.c.updated_at < now - PAUSED_LONG,
        )
        for row in await schedules_that(paused):
            found.append(Attention.about("paused_long", "paused for more than a day", row))
        for row in await schedules_that(sa.and_(enabled, schedules.c.next_run_at.is_(None))):
            found.append(Attention.about("no_next_fire", "enabled, but it has no next fire", row))
        return found
