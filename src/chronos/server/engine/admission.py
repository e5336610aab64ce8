"""Admission: a due job becomes claimable (``ready``) or dispatchable (``queued``).

Two paths lead here:
- :func:`admit_fired` — jobs a schedule fires are admitted in the scheduler's transaction,
  applying the schedule's concurrency policy (``forbid``: skip while an earlier job is in
  flight; ``allow``: run; ``replace``: cancel the in-flight job and run).
- :class:`AdmissionService` — delayed one-off jobs and retries wait in ``pending`` until
  ``run_at``; this service moves them on. They were admitted before, so no policy applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import Clock
from chronos.server.domain.jobs import admitted_status, job_from_schedule, replaced
from chronos.server.domain.rows import JobRow, ScheduleRow
from chronos.server.domain.states import Concurrency, JobStatus
from chronos.server.engine.service import Service
from chronos.server.notifier import Notifier
from chronos.server.store import jobs as job_store
from chronos.server.store.db import Database


@dataclass
class Admitted:
    jobs: list[JobRow]  # the rows inserted (a slot that already had its job is not)
    canceled: list[str]  # in-flight jobs the ``replace`` policy canceled


async def admit_fired(
    conn: AsyncConnection,
    fired: list[tuple[ScheduleRow, datetime]],
    now: datetime,
    *,
    traceparent: str | None = None,
) -> Admitted:
    """Insert the jobs for fired ``(schedule, slot)`` pairs with their admitted status (and the
    fire round's trace context, while tracing is on)."""
    guarded = {s["id"] for s, _ in fired if s["spec"]["concurrency"] != Concurrency.ALLOW}
    in_flight = await job_store.job_schedules_in_flight(conn, guarded)
    busy = {schedule_id: bool(jobs) for schedule_id, jobs in in_flight.items()}
    to_cancel: list[str] = []
    rows: list[JobRow] = []
    last_row_of: dict[str, JobRow] = {}
    for schedule, slot in fired:
        policy = Concurrency(schedule["spec"]["concurrency"])
        status = admitted_status(schedule["spec"]["delivery"]["type"])
        if policy is Concurrency.FORBID and busy.get(schedule["id"]):
            status = JobStatus.SKIPPED
        elif policy is Concurrency.REPLACE:
            to_cancel.extend(j["id"] for j in in_flight.pop(schedule["id"], []))
            previous = last_row_of.get(schedule["id"])
            if previous is not None:  # several slots in one round: only the last one runs
                replaced(previous, now)
        row = job_from_schedule(schedule, slot, now, status=status)
        if traceparent is not None:
            row["traceparent"] = traceparent
        if status is not JobStatus.SKIPPED:
            busy[schedule["id"]] = True
        rows.append(row)
        last_row_of[schedule["id"]] = row
    await job_store.job_cancel_many(conn, to_cancel, now)
    inserted = await job_store.job_insert_fired(conn, rows)
    return Admitted([r for r in rows if r["id"] in inserted], to_cancel)


@dataclass
class AdmissionRound:
    admitted: int = 0


class AdmissionService(Service):
    name = "admission"

    def __init__(
        self, db: Database, clock: Clock, notifier: Notifier, *, batch_size: int = 1000
    ) -> None:
        super().__init__(clock, notifier.admission_wakeup)
        self.db = db
        self.notifier = notifier
        self.batch_size = batch_size

    async def run_once(self) -> AdmissionRound:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            moved = await job_store.job_admit_due(conn, now, self.batch_size)
        self.notifier.jobs_ready_many(moved)
        return AdmissionRound(admitted=len(moved))

    def has_more(self, result: AdmissionRound) -> bool:
        return result.admitted >= self.batch_size

    async def next_deadline(self) -> datetime | None:
        async with self.db.read() as conn:
            return await job_store.job_next_pending_at(conn)
