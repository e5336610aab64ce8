"""The scheduler: turns due schedule slots into jobs, exactly once per slot.

One round locks the due schedules (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
scheduler nodes share the work), plans each one's slots under its misfire policy, inserts the
jobs with ``ON CONFLICT DO NOTHING`` on ``(schedule_id, scheduled_for)``, applies the
concurrency policy and advances ``next_run_at`` — all in one transaction. A crash anywhere
before the commit leaves nothing behind; the next round redoes the same slots. Slots the
misfire policy does not fire (Chronos was down, or behind) are recorded as a ``missed``
schedule event in the same transaction, so the dashboard can say which and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chronos.server import events, metrics
from chronos.server.clock import Clock
from chronos.server.domain.rows import JobRow, ScheduleEventRow, ScheduleRow
from chronos.server.domain.schedules import plan
from chronos.server.domain.states import JobStatus, ScheduleEventKind
from chronos.server.domain.timing import FirePlan, iso
from chronos.server.engine.admission import admit_fired
from chronos.server.engine.service import Service
from chronos.server.ids import new_id
from chronos.server.notifier import Notifier
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.db import Database
from chronos.server.store.schedules import ScheduleAdvance

log = logging.getLogger("chronos.scheduler")


@dataclass
class SchedulerRound:
    schedules: int = 0
    fired: int = 0
    skipped: int = 0
    missed: int = 0
    jobs: list[JobRow] = field(default_factory=list)


class Scheduler(Service):
    name = "scheduler"

    def __init__(
        self, db: Database, clock: Clock, notifier: Notifier, *, batch_size: int = 500
    ) -> None:
        super().__init__(clock, notifier.scheduler_wakeup)
        self.db = db
        self.notifier = notifier
        self.batch_size = batch_size

    async def run_once(self) -> SchedulerRound:
        now = self.clock.now()
        outcome = SchedulerRound()
        async with self.db.transaction() as conn:
            due = await schedule_store.schedule_lock_due(conn, now, self.batch_size)
            if not due:
                return outcome
            outcome.schedules = len(due)
            fired: list[tuple[ScheduleRow, datetime]] = []
            advances: list[ScheduleAdvance] = []
            missed: list[ScheduleEventRow] = []
            for schedule in due:
                try:
                    fire_plan = plan(schedule, now)
                except Exception:
                    # One broken schedule (say, a timezone gone from tzdata) must not stop the
                    # others: log it and look at it again in a minute.
                    log.exception("cannot plan schedule %s; retrying in 60s", schedule["id"])
                    fire_plan = FirePlan([], now + timedelta(seconds=60))
                outcome.missed += fire_plan.missed
                if fire_plan.missed:
                    missed.append(_missed_event(schedule, fire_plan, now))
                fired.extend((schedule, slot) for slot in fire_plan.slots)
                advances.append(
                    {
                        "id": schedule["id"],
                        "next_run_at": fire_plan.next_run_at,
                        "last_run_at": fire_plan.slots[-1] if fire_plan.slots else None,
                    }
                )
            admitted = await admit_fired(conn, fired, now)
            await schedule_store.schedule_advance_many(conn, advances)
            for event in missed:
                await dashboard_store.schedule_event_insert(conn, event)
            # A slot skipped by the concurrency policy shows on its schedule (last_status), so
            # a schedule stuck behind a job nobody runs does not go unnoticed.
            skipped = {
                job["schedule_id"]: JobStatus.SKIPPED.value
                for job in admitted.jobs
                if job["status"] == JobStatus.SKIPPED and job["schedule_id"]
            }
            await schedule_store.schedule_set_last_status_many(conn, skipped)
        outcome.jobs = admitted.jobs
        for job_id in admitted.canceled:
            self.notifier.job_canceled(job_id)
        admitted_jobs = admitted.jobs
        not_run = (JobStatus.SKIPPED, JobStatus.CANCELED)
        outcome.fired = sum(1 for j in admitted_jobs if j["status"] not in not_run)
        outcome.skipped = len(admitted_jobs) - outcome.fired
        self.notifier.jobs_ready_many(admitted_jobs)
        events.jobs_fired(admitted_jobs)
        metrics.SLOTS_FIRED.inc(outcome.fired)
        metrics.SLOTS_SKIPPED.inc(outcome.skipped)
        metrics.SLOTS_MISSED.inc(outcome.missed)
        metrics.JOBS_CREATED.labels("schedule").inc(len(admitted_jobs))
        for job in admitted_jobs:
            metrics.FIRE_LAG.observe(max(0.0, (now - job["scheduled_for"]).total_seconds()))
        if outcome.missed:
            log.info("misfire: %d slot(s) not run under their misfire policy", outcome.missed)
        return outcome

    def has_more(self, result: SchedulerRound) -> bool:
        return result.schedules >= self.batch_size

    async def next_deadline(self) -> datetime | None:
        async with self.db.read() as conn:
            return await schedule_store.schedule_next_due_at(conn)


def _missed_event(schedule: ScheduleRow, fire_plan: FirePlan, now: datetime) -> ScheduleEventRow:
    """The record of slots a round did not fire: how many, from when, under which policy."""
    policy = schedule["spec"]["misfire_policy"]
    return {
        "id": new_id("sev"),
        "schedule_id": schedule["id"],
        "at": now,
        "kind": ScheduleEventKind.MISSED.value,
        "actor": None,
        "note": f"{fire_plan.missed} slot(s) not fired under the misfire policy {policy!r}",
        "details": {
            "count": fire_plan.missed,
            "from": iso(schedule["next_run_at"]),
            "until": iso(now),
            "policy": policy,
        },
        "version": schedule["version"],
    }
