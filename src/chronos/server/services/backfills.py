"""Backfills: run a schedule's past slots, exactly once, and cancel what has not started.

    backfills = BackfillService(db, clock, notifier)
    view = await backfills.create(account_id, "nightly", start, end, Overlap.SKIP, actor=actor)
    view.row["created"], view.status          # 30, "running"
    await backfills.cancel(account_id, view.row["id"], actor=actor)

A backfill plans the slots of ``[from, to]`` by the schedule's *current* configuration (its
trigger, DST policy, spread, window and calendars: ``domain/schedules.py``), and in one
transaction creates the job of every slot that has none, reruns finished ones when asked, and
records itself and its audit record. Its jobs (``trigger: "backfill"``) are admitted at once:
the schedule's concurrency policy does not apply to them, and they do not count for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.clock import Clock
from chronos.server.domain.audit import Actor, audit_row
from chronos.server.domain.backfill import (
    MAX_BACKFILL_SLOTS,
    BackfillPlan,
    BackfillStatus,
    Overlap,
    TooManySlots,
    backfill_jobs,
    backfill_status,
    decide,
    plan_backfill,
)
from chronos.server.domain.calendars import Calendar, CalendarRow
from chronos.server.domain.rows import JobMoved, JobRow, ScheduleRow
from chronos.server.domain.schedules import (
    calendar_names,
    schedule_trigger,
    schedule_window,
    spec_slot_filter,
)
from chronos.server.domain.states import JobTrigger
from chronos.server.domain.timing import iso
from chronos.server.errors import InvalidState, NotFound, ValidationFailed
from chronos.server.ids import new_id
from chronos.server.notifier import Notifier
from chronos.server.store import backfills as backfill_store
from chronos.server.store import calendars as calendar_store
from chronos.server.store import jobs as job_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.audit import audit_insert
from chronos.server.store.backfills import BackfillRow, in_flight_count
from chronos.server.store.db import Database

# Plans made for a schedule that changed before they were written are made again, this often.
_PLAN_ATTEMPTS = 3


@dataclass(frozen=True)
class BackfillView:
    """A backfill with its jobs by status (``jobs``) and where it stands."""

    row: BackfillRow
    jobs: dict[str, int]

    @property
    def status(self) -> BackfillStatus:
        return backfill_status(self.row["canceled_at"] is not None, in_flight_count(self.jobs))


@dataclass(frozen=True)
class Canceled:
    view: BackfillView
    canceled: int  # jobs canceled by this call


class BackfillService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        *,
        max_slots: int = MAX_BACKFILL_SLOTS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier
        self.max_slots = max_slots

    async def create(
        self,
        account_id: str,
        schedule: str,
        start: datetime,
        end: datetime,
        overlap: Overlap = Overlap.SKIP,
        *,
        actor: Actor | None = None,
    ) -> BackfillView:
        """Create the jobs of the schedule's slots in ``[start, end]`` that have none (and,
        with ``overlap=rerun``, run finished ones again); ``end`` may not be in the future."""
        now = self.clock.now()
        start, end = _utc(start), _utc(end)
        if start >= end:
            raise ValidationFailed("from must be before to", details={"field": "from"})
        if end > now:
            raise ValidationFailed(
                f"to must not be in the future (now is {iso(now)}): a backfill runs past slots; "
                "the scheduler fires the coming ones",
                details={"field": "to"},
            )
        backfill_id = new_id("bfl")
        # Planning up to 100,000 slots takes a while: it runs in a thread, outside the write
        # transaction, and the write goes ahead only if the schedule is still at the version
        # the plan was made for and its calendars at theirs (else it is planned again). The
        # write transaction locks the schedule (and shares its calendars' locks), so a change
        # committing between that check and the insert waits for it instead.
        for _ in range(_PLAN_ATTEMPTS):
            async with self.db.read() as conn:
                planned_row = await schedule_store.schedule_get(conn, account_id, schedule)
                if planned_row is None:
                    raise NotFound(f"no schedule {schedule!r}")
                calendar_rows = await _calendar_rows(conn, planned_row)
            calendars = {c["name"]: Calendar.compile(c["spec"]) for c in calendar_rows}
            plan = await asyncio.to_thread(self._plan, planned_row, start, end, calendars)
            async with self.db.transaction() as conn:
                row = await schedule_store.schedule_get(
                    conn, account_id, planned_row["id"], for_update=True
                )
                if row is None:
                    raise NotFound(f"no schedule {schedule!r}")
                current = await _calendar_rows(conn, row, lock=True)
                unchanged = row["version"] == planned_row["version"]
                if unchanged and _versions(current) == _versions(calendar_rows):
                    written = await self._write(
                        conn, row, plan, start, end, overlap, actor, backfill_id, now
                    )
                    break
        else:
            raise InvalidState(
                "the schedule kept changing while the backfill was planned; try again"
            )
        created, rerun = written
        self.notifier.jobs_ready_many([*created, *rerun])
        metrics.JOBS_CREATED.labels(JobTrigger.BACKFILL.value).inc(len(created))
        async with self.db.read() as conn:
            counts = await backfill_store.backfill_job_counts(conn, [backfill_id])
            record = await backfill_store.backfill_get(conn, account_id, backfill_id)
        assert record is not None
        return BackfillView(record, counts[backfill_id])

    async def _write(
        self,
        conn: AsyncConnection,
        row: ScheduleRow,
        plan: BackfillPlan,
        start: datetime,
        end: datetime,
        overlap: Overlap,
        actor: Actor | None,
        backfill_id: str,
        now: datetime,
    ) -> tuple[list[JobRow], list[JobMoved]]:
        """The backfill's one write transaction: new jobs, reruns, its record, its audit."""
        account_id = row["account_id"]
        existing = await backfill_store.slot_jobs_at(conn, row["id"], plan.slots)
        decision = decide(plan.slots, existing, overlap)
        rows = backfill_jobs(row, decision.create, now, backfill_id)
        inserted = await job_store.job_insert_fired(conn, rows)
        created = [job for job in rows if job["id"] in inserted]
        rerun = await backfill_store.job_rerun_many(conn, decision.rerun, backfill_id, now)
        # Slots another transaction claimed (or finished) meanwhile count as existing.
        lost = len(rows) - len(created) + len(decision.rerun) - len(rerun)
        record: BackfillRow = {
            "id": backfill_id,
            "account_id": account_id,
            "schedule_id": row["id"],
            "range_start": start,
            "range_end": end,
            "overlap": overlap.value,
            "created": len(created),
            "rerun": len(rerun),
            "skipped_existing": decision.existing + lost,
            "in_flight": decision.in_flight,
            "excluded": plan.excluded,
            "actor_key_id": actor.key_id if actor else None,
            "actor": str(actor) if actor else None,
            "reason": actor.reason if actor else None,
            "created_at": now,
            "canceled_at": None,
        }
        await backfill_store.backfill_insert(conn, record)
        await audit_insert(
            conn,
            audit_row(
                account_id,
                actor,
                "schedule.backfilled",
                "schedule",
                row["id"],
                row["name"],
                before=None,
                after=_audited(record),
                at=now,
            ),
        )
        return created, rerun

    def _plan(
        self, row: ScheduleRow, start: datetime, end: datetime, calendars: dict[str, Calendar]
    ) -> BackfillPlan:
        spec = row["spec"]
        rules = spec_slot_filter(spec, calendars) if calendar_names(spec) else None
        try:
            return plan_backfill(
                schedule_trigger(spec, row["created_at"]),
                schedule_window(spec),
                start,
                end,
                excluded=rules.reason if rules is not None else None,
                max_slots=self.max_slots,
            )
        except TooManySlots as exc:
            excluded = ", calendar-excluded ones included" if exc.scanned else ""
            raise ValidationFailed(
                f"the range holds more than {exc.limit} slots of this schedule{excluded}; a "
                f"backfill takes at most {exc.limit}: narrow it (the first {exc.limit} end at "
                f"{iso(exc.last_allowed)}) and backfill the rest in another request",
                code="too_many_slots",
                details={"max_slots": exc.limit, "last_allowed": iso(exc.last_allowed)},
            ) from exc

    async def get(self, account_id: str, backfill_id: str) -> BackfillView:
        async with self.db.read() as conn:
            row = await backfill_store.backfill_get(conn, account_id, backfill_id)
            if row is None:
                raise NotFound(f"no backfill {backfill_id!r}")
            counts = await backfill_store.backfill_job_counts(conn, [backfill_id])
        return BackfillView(row, counts[backfill_id])

    async def find(
        self, account_id: str, schedule: str, *, cursor: str | None, limit: int
    ) -> tuple[list[BackfillView], str | None]:
        """A schedule's backfills, newest first."""
        async with self.db.read() as conn:
            row = await schedule_store.schedule_get(conn, account_id, schedule)
            if row is None:
                raise NotFound(f"no schedule {schedule!r}")
            rows, next_cursor = await backfill_store.backfill_list(
                conn, account_id, row["id"], cursor=cursor, limit=limit
            )
            counts = await backfill_store.backfill_job_counts(conn, [r["id"] for r in rows])
        return [BackfillView(r, counts[r["id"]]) for r in rows], next_cursor

    async def cancel(
        self, account_id: str, backfill_id: str, *, actor: Actor | None = None
    ) -> Canceled:
        """Cancel the backfill's jobs that have not started, in one transaction; running ones
        finish. Canceling again cancels nothing more."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await backfill_store.backfill_get(conn, account_id, backfill_id, for_update=True)
            if row is None:
                raise NotFound(f"no backfill {backfill_id!r}")
            canceled = await backfill_store.backfill_cancel_jobs(conn, backfill_id, now)
            if row["canceled_at"] is None:
                await backfill_store.backfill_mark_canceled(conn, backfill_id, now)
                row = {**row, "canceled_at": now}
                await audit_insert(
                    conn,
                    audit_row(
                        account_id,
                        actor,
                        "backfill.canceled",
                        "backfill",
                        backfill_id,
                        None,
                        before={"canceled_jobs": 0},
                        after={"canceled_jobs": len(canceled), "schedule_id": row["schedule_id"]},
                        at=now,
                    ),
                )
            counts = await backfill_store.backfill_job_counts(conn, [backfill_id])
        for job_id in canceled:
            self.notifier.job_canceled(job_id)
        if canceled:
            self.notifier.changed(account_id, "jobs")
        return Canceled(BackfillView(row, counts[backfill_id]), len(canceled))


async def _calendar_rows(
    conn: AsyncConnection, row: ScheduleRow, *, lock: bool = False
) -> list[CalendarRow]:
    """The calendars the schedule names that exist (a missing one counts as empty)."""
    names = calendar_names(row["spec"])
    if not names:
        return []
    return await calendar_store.calendar_get_by_names(
        conn, row["account_id"], names, for_share=lock
    )


def _versions(rows: list[CalendarRow]) -> dict[str, tuple[str, int]]:
    return {row["name"]: (row["id"], row["version"]) for row in rows}


def _audited(row: BackfillRow) -> dict[str, object]:
    return {
        "backfill_id": row["id"],
        "from": iso(row["range_start"]),
        "to": iso(row["range_end"]),
        "overlap": row["overlap"],
        "created": row["created"],
        "rerun": row["rerun"],
        "skipped_existing": row["skipped_existing"],
        "excluded": row["excluded"],
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
