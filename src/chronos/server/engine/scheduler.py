"""The scheduler: turns due schedule slots into jobs, exactly once per slot.

One round locks the due schedules (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
scheduler nodes share the work), plans each one's slots under its misfire policy, inserts the
jobs with ``ON CONFLICT DO NOTHING`` on ``(schedule_id, scheduled_for)``, applies the
concurrency policy and advances ``next_run_at`` — all in one transaction. A crash anywhere
before the commit leaves nothing behind; the next round redoes the same slots. Slots the
misfire policy does not fire (Chronos was down, or behind) are recorded as a ``missed``
schedule event in the same transaction, so the dashboard can say which and why.

Slots a schedule's calendars exclude are never planned (``domain.calendars.CalendarTrigger``);
the calendars a round needs are read with one query for the whole batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import events, metrics, telemetry
from chronos.server.clock import Clock
from chronos.server.domain.calendars import Calendar, Calendars
from chronos.server.domain.rows import JobRow, ScheduleEventRow, ScheduleRow
from chronos.server.domain.schedules import calendar_names, excluded_count, plan
from chronos.server.domain.states import JobStatus, ScheduleEventKind
from chronos.server.domain.thresholds import LATE_AFTER_SECONDS
from chronos.server.domain.timing import FirePlan, iso
from chronos.server.engine.admission import admit_fired
from chronos.server.engine.service import Service
from chronos.server.ids import new_id
from chronos.server.notifier import Notifier
from chronos.server.store import calendars as calendar_store
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
    excluded: int = 0  # slots passed over because a calendar rules their date out
    jobs: list[JobRow] = field(default_factory=list)


class Scheduler(Service):
    name = "scheduler"

    def __init__(
        self, db: Database, clock: Clock, notifier: Notifier, *, batch_size: int = 100
    ) -> None:
        super().__init__(clock, notifier.scheduler_wakeup)
        self.db = db
        self.notifier = notifier
        self.batch_size = batch_size
        # Compiled calendars by (id, version): a calendar changes rarely, rounds are frequent.
        self._compiled: dict[tuple[str, int], Calendar] = {}

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
            calendars = await self._calendars(conn, due)
            for schedule in due:
                try:
                    named = calendars.get(schedule["id"])
                    fire_plan = plan(schedule, now, named)
                    if named is not None:
                        outcome.excluded += excluded_count(
                            schedule, named, fire_plan.next_run_at, now
                        )
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
            with telemetry.schedule_fire(len(due), len(fired)) as traceparent:
                admitted = await admit_fired(conn, fired, now, traceparent=traceparent)
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
        if any(job["status"] == JobStatus.PENDING for job in admitted_jobs):
            self.notifier.pending_changed()  # jittered jobs: admission's deadline moved
        events.jobs_fired(admitted_jobs)
        metrics.SLOTS_FIRED.inc(outcome.fired)
        metrics.SLOTS_SKIPPED.inc(outcome.skipped)
        metrics.SLOTS_MISSED.inc(outcome.missed)
        _count_outcomes(outcome, admitted_jobs, now)
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

    async def _calendars(
        self, conn: AsyncConnection, due: list[ScheduleRow]
    ) -> dict[str, Calendars]:
        """The calendars of the batch's schedules that name any, by schedule id: one query for
        which (id, version) each names, and the contents only of those not compiled yet (a
        business-days calendar named by thousands of schedules is read once, not per fire)."""
        ids = [s["id"] for s in due if calendar_names(s["spec"])]
        if not ids:
            return {}
        named = await calendar_store.calendar_versions_for_schedules(conn, ids)
        if len(self._compiled) > 1000:
            self._compiled.clear()
        wanted = {(cid, version) for links in named.values() for cid, _, version in links}
        missing = [cid for cid, version in wanted if (cid, version) not in self._compiled]
        fresh: dict[str, Calendar] = {}
        for row in await calendar_store.calendars_by_ids(conn, missing):
            fresh[row["id"]] = Calendar.compile(row["spec"])
            self._compiled[(row["id"], row["version"])] = fresh[row["id"]]
        # The versions cannot move between the two reads: a calendar change locks the
        # schedules that name it first, and this round holds them. A schedule with no row
        # here names calendars that no longer exist: they are empty.
        return {
            schedule_id: {
                name: self._compiled.get((cid, version)) or fresh[cid]
                for cid, name, version in named.get(schedule_id, [])
            }
            for schedule_id in ids
        }


def _count_outcomes(outcome: SchedulerRound, jobs: list[JobRow], now: datetime) -> None:
    """``chronos_schedule_slots_total`` by outcome, as the fire ledger names them: a job made
    more than ``LATE_AFTER_SECONDS`` after its slot is ``late``."""
    counts = {"on_time": 0, "late": 0, "skipped": 0}
    for job in jobs:
        if job["status"] in (JobStatus.SKIPPED, JobStatus.CANCELED):
            counts["skipped"] += 1
        elif (now - job["scheduled_for"]).total_seconds() > LATE_AFTER_SECONDS:
            counts["late"] += 1
        else:
            counts["on_time"] += 1
    counts["missed"] = outcome.missed
    counts["excluded"] = outcome.excluded
    for name, count in counts.items():
        if count:
            metrics.SCHEDULE_SLOTS.labels(name).inc(count)


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
