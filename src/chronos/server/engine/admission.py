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
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import Clock
from chronos.server.engine.notifier import Notifier
from chronos.server.engine.service import Service
from chronos.server.engine.states import Concurrency, JobStatus, Trigger
from chronos.server.ids import new_id
from chronos.server.store import jobs as job_store
from chronos.server.store.db import Database


def admitted_status(delivery: dict[str, Any]) -> JobStatus:
    return JobStatus.QUEUED if delivery.get("type") == "push" else JobStatus.READY


def job_row_from_schedule(
    schedule: dict[str, Any],
    slot: datetime,
    now: datetime,
    *,
    status: JobStatus,
    trigger: Trigger = Trigger.SCHEDULE,
) -> dict[str, Any]:
    spec = schedule["spec"]
    final = status in (JobStatus.SKIPPED, JobStatus.CANCELED)
    return {
        "id": new_id("job"),
        "account_id": schedule["account_id"],
        "schedule_id": schedule["id"],
        "name": spec["name"],
        "handler": spec["handler"],
        "payload": spec["payload"],
        "delivery": spec["delivery"],
        "delivery_type": spec["delivery"]["type"],
        "status": status.value,
        "trigger": trigger.value,
        "scheduled_for": slot,
        "run_at": slot if trigger is Trigger.SCHEDULE else now,
        "attempt": 0,
        "retry_base": 0,
        "max_retries": spec["max_retries"],
        "timeout_seconds": spec["timeout"],
        "retry_policy": spec["retry_policy"],
        "idempotency_key": None,
        "tags": spec["tags"],
        "result": None,
        "last_error": _skip_reason(spec) if status is JobStatus.SKIPPED else None,
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
        "finished_at": now if final else None,
    }


def _skip_reason(spec: dict[str, Any]) -> dict[str, str]:
    return {
        "type": "skipped",
        "message": f"an earlier job of this schedule was still in flight "
        f"(concurrency: {spec['concurrency']})",
    }


@dataclass
class Admitted:
    jobs: list[dict[str, Any]]  # the rows inserted (a slot that already had its job is not)
    canceled: list[str]  # in-flight jobs the ``replace`` policy canceled


async def admit_fired(
    conn: AsyncConnection, fired: list[tuple[dict[str, Any], datetime]], now: datetime
) -> Admitted:
    """Insert the jobs for fired ``(schedule, slot)`` pairs with their admitted status."""
    guarded = {s["id"] for s, _ in fired if s["spec"]["concurrency"] != Concurrency.ALLOW}
    in_flight = await job_store.job_schedules_in_flight(conn, guarded)
    busy = {schedule_id: bool(jobs) for schedule_id, jobs in in_flight.items()}
    to_cancel: list[str] = []
    rows: list[dict[str, Any]] = []
    last_row_of: dict[str, dict[str, Any]] = {}
    for schedule, slot in fired:
        policy = Concurrency(schedule["spec"]["concurrency"])
        status = admitted_status(schedule["spec"]["delivery"])
        if policy is Concurrency.FORBID and busy.get(schedule["id"]):
            status = JobStatus.SKIPPED
        elif policy is Concurrency.REPLACE:
            to_cancel.extend(j["id"] for j in in_flight.pop(schedule["id"], []))
            previous = last_row_of.get(schedule["id"])
            if previous is not None:  # several slots in one round: only the last one runs
                previous.update(status=JobStatus.CANCELED.value, finished_at=now)
        row = job_row_from_schedule(schedule, slot, now, status=status)
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
