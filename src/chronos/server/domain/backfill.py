"""Backfill as rules: which of a schedule's past slots a backfill plans, and what it makes of
each one. Pure: the schedule's *current* trigger, window and calendar filter go in, slots come
out; nothing here reads a clock or the database.

A backfill creates the job of every slot in ``[from, to]`` that has none yet, exactly once:
its jobs carry ``trigger: "backfill"`` and claim their slot in the same unique index as the
scheduler's (``uq_jobs_schedule_slot``), so a slot already fired, or already backfilled, is
never created again. With ``overlap: "rerun"`` a slot whose job has finished is run again as
that same job (one job per slot still); a job still in flight is left alone.

    >>> plan = plan_backfill(trigger, window, start, end, excluded=None)
    >>> len(plan.slots), plan.excluded
    (24, 0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict

from chronos.server.domain.jobs import admitted_status, job_from_schedule
from chronos.server.domain.rows import JobRow, ScheduleRow
from chronos.server.domain.states import FINAL_JOB_STATUSES, JobStatus, JobTrigger
from chronos.server.domain.timing import ScheduleTrigger, Window, next_fire

# The most slots one backfill may create or rerun (a request inserts them in one transaction).
MAX_BACKFILL_SLOTS = 10_000
# The most slots a plan looks at, excluded ones included (a per-second schedule over a long
# holiday must not keep a request busy).
MAX_SCANNED_SLOTS = 100_000
_MICRO = timedelta(microseconds=1)


class Overlap(StrEnum):
    """What a backfill does to a slot that already has its job."""

    SKIP = "skip"  # leave it: only slots with no job are created
    RERUN = "rerun"  # a finished job runs again (as a retry of that job); in flight: left alone


class BackfillStatus(StrEnum):
    RUNNING = "running"  # some of its jobs are still in flight
    DONE = "done"  # all of its jobs have finished
    CANCELED = "canceled"  # canceled: its jobs not yet started were canceled


class TooManySlots(ValueError):
    """The range holds more slots than a backfill may take; ``last_allowed`` is the slot at
    which the first ``limit`` of them end (a ``to`` that fits). ``scanned``: the limit is on
    the slots looked at, calendar-excluded ones included."""

    def __init__(self, limit: int, last_allowed: datetime, *, scanned: bool = False) -> None:
        super().__init__(f"more than {limit} slots")
        self.limit = limit
        self.last_allowed = last_allowed
        self.scanned = scanned


@dataclass(frozen=True)
class BackfillPlan:
    slots: list[datetime]  # oldest first, calendar-excluded ones left out
    excluded: int  # slots in the range a calendar rules out


def plan_backfill(
    trigger: ScheduleTrigger,
    window: Window,
    start: datetime,
    end: datetime,
    *,
    excluded: Callable[[datetime], str | None] | None,
    max_slots: int = MAX_BACKFILL_SLOTS,
    max_scanned: int = MAX_SCANNED_SLOTS,
) -> BackfillPlan:
    """The slots of ``trigger`` in ``[start, end]`` inside ``window``; ``excluded(slot)`` says
    why a calendar rules a slot out (None: it may run). Raises :class:`TooManySlots` past
    ``max_slots`` planned (or ``max_scanned`` looked at)."""
    slots: list[datetime] = []
    skipped = 0
    cursor = start - _MICRO
    while True:
        fire = next_fire(trigger, cursor, window)
        if fire is None or fire > end:
            break
        if len(slots) + skipped == max_scanned:
            # ``cursor``: the last slot looked at, so a ``to`` there fits (as it does below).
            raise TooManySlots(max_scanned, cursor, scanned=True)
        cursor = fire
        if excluded is not None and excluded(fire) is not None:
            skipped += 1
        else:
            if len(slots) == max_slots:
                raise TooManySlots(max_slots, slots[-1])
            slots.append(fire)
    return BackfillPlan(slots, skipped)


class ExistingSlotJob(TypedDict):
    id: str
    scheduled_for: datetime
    status: str


@dataclass(frozen=True)
class SlotDecision:
    """What a backfill does with its planned slots, given the jobs some of them already have."""

    create: list[datetime]  # no job yet
    rerun: list[str]  # job ids: finished, and ``overlap`` is ``rerun``
    existing: int  # left alone: they have a job (in flight, or finished under ``skip``)
    in_flight: int  # of ``existing``: still pending, ready, queued or running


def decide(
    slots: list[datetime], existing: list[ExistingSlotJob], overlap: Overlap
) -> SlotDecision:
    by_slot = {job["scheduled_for"]: job for job in existing}
    create: list[datetime] = []
    rerun: list[str] = []
    kept = in_flight = 0
    for slot in slots:
        job = by_slot.get(slot)
        if job is None:
            create.append(slot)
            continue
        finished = JobStatus(job["status"]) in FINAL_JOB_STATUSES
        if finished and overlap is Overlap.RERUN:
            rerun.append(job["id"])
            continue
        kept += 1
        in_flight += not finished
    return SlotDecision(create, rerun, kept, in_flight)


def backfill_jobs(
    schedule: ScheduleRow, slots: list[datetime], now: datetime, backfill_id: str
) -> list[JobRow]:
    """The jobs of a backfill's new slots: admitted at once (no concurrency policy applies:
    they run as workers allow), each with its slot as ``scheduled_for``."""
    status = admitted_status(schedule["spec"]["delivery"]["type"])
    rows = []
    for slot in slots:
        row = job_from_schedule(schedule, slot, now, status=status, trigger=JobTrigger.BACKFILL)
        row["backfill_id"] = backfill_id
        rows.append(row)
    return rows


def backfill_status(canceled: bool, in_flight: int) -> BackfillStatus:
    if canceled:
        return BackfillStatus.CANCELED
    return BackfillStatus.RUNNING if in_flight else BackfillStatus.DONE
