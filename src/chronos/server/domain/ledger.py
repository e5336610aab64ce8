"""A schedule's fire ledger: every slot it should have fired in a window, and what became of it.

Pure: the schedule, its versions, its events and the jobs its slots made go in; the slots
come out. Nothing here reads a clock or the database (``ScheduleService.slots`` gathers the
inputs; ``GET /v1/schedules/{id}/slots`` and the dashboard show the result).

A slot is planned by the configuration in force at that instant: version ``n`` plans the
slots after its ``created_at`` up to the next version's (a change takes effect strictly after
it is made, as the scheduler's ``next_run_at`` does), an interval counting from the
schedule's own ``created_at`` (``domain.schedules.schedule_trigger``). Each planned slot is:

- ``on_time`` / ``late``: its job was created within / more than ``late_after`` after it;
- ``excluded``: no job, and a calendar the schedule names (``exclude_calendars``, or not in
  its ``only_calendar``) rules out the slot's local date — judged by the calendars as they
  are now (the reason names the calendar), as history of calendar changes is not kept;
- ``skipped``: its job was skipped by the concurrency policy;
- ``paused`` / ``disabled``: no job, and the schedule was paused / disabled then;
- ``unknown``: no job, but older than the retention horizon (its job may have been pruned);
- ``missed`` because of downtime: a ``missed`` event covers it (Chronos was down or behind
  and the misfire policy did not fire it);
- ``due``: no job yet, but only just due (the scheduler has ``late_after`` to fire it);
- ``missed`` otherwise: the scheduler has not got to it yet (its ``next_run_at`` is at or
  before the slot), or no reason is known.

A job whose time is not a planned slot still shows, as ``fired`` (or ``skipped``).

    >>> ledger = build_ledger(schedule, versions, events, jobs, start=day_ago, end=now,
    ...                       now=now, pruned_before=week_ago, late_after=timedelta(seconds=10))
    >>> [(slot.at, slot.outcome) for slot in ledger.slots]
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from chronos.server.domain.calendars import Calendars, SlotFilter
from chronos.server.domain.rows import ScheduleEventRow, ScheduleRow, ScheduleSpec
from chronos.server.domain.schedules import schedule_trigger, schedule_window, spec_slot_filter
from chronos.server.domain.states import JobStatus, JobTrigger, ScheduleEventKind, ScheduleState
from chronos.server.domain.timing import parse_iso

# The most slots one ledger holds (a per-second schedule makes 604,800 in a week): the latest
# ones are kept and ``Ledger.truncated`` says that earlier ones were left out.
MAX_SLOTS = 1000
# The window a ledger covers when none is named, and the widest one may ask for.
DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=31)

_MICRO = timedelta(microseconds=1)


class SlotOutcome(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    SKIPPED = "skipped"
    EXCLUDED = "excluded"  # a calendar rules the slot's date out
    PAUSED = "paused"
    DISABLED = "disabled"
    UNKNOWN = "unknown"
    DUE = "due"
    MISSED = "missed"
    FIRED = "fired"  # a job for a time that is not a planned slot


class SlotJob(TypedDict):
    """What the ledger needs of a job fired by a schedule."""

    id: str
    scheduled_for: datetime
    created_at: datetime
    status: str  # JobStatus
    trigger: NotRequired[str]  # JobTrigger: "schedule", or "backfill" (a backfill made it)


class VersionTiming(TypedDict):
    """What the ledger needs of a schedule version (``ScheduleVersionRow`` has these)."""

    version: int
    spec: ScheduleSpec
    created_at: datetime


@dataclass(frozen=True)
class Slot:
    at: datetime
    outcome: SlotOutcome
    lag_seconds: float | None = None  # job created this long after the slot
    job_id: str | None = None
    job_status: str | None = None
    reason: str | None = None
    version: int | None = None  # the configuration version that planned it (None: unplanned)


@dataclass(frozen=True)
class Ledger:
    slots: list[Slot]  # oldest first
    truncated: bool  # more than MAX_SLOTS: only the latest are here


def build_ledger(
    schedule: ScheduleRow,
    versions: Sequence[VersionTiming],
    events: Sequence[ScheduleEventRow],
    jobs: Sequence[SlotJob],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    pruned_before: datetime | None,
    late_after: timedelta,
    limit: int = MAX_SLOTS,
    calendars: Calendars | None = None,
) -> Ledger:
    """The slots in ``[start, min(end, now)]`` with their outcomes.

    ``events`` must hold the state changes in the window and the last one before it (the
    state at ``start``) and the ``missed`` events recorded since ``start``; ``jobs`` the
    schedule's fired jobs (``trigger: schedule``) in the window, the latest ``limit + 1`` of
    them at least. ``pruned_before``: jobs older than this may have been pruned.
    ``calendars``: the calendars the versions name, compiled, by name (as they are now).
    """
    end = min(end, now)
    timeline = _Timeline(schedule, versions, events, calendars)
    planned = _planned(schedule, timeline.versions, start, end, limit + 1)
    by_time = {job["scheduled_for"]: job for job in jobs if start <= job["scheduled_for"] <= end}
    entries: dict[datetime, Slot] = {}
    for at, version in planned:
        job = by_time.get(at)
        entries[at] = (
            _fired(job, version, timeline, late_after)
            if job is not None
            else _not_fired(at, version, timeline, schedule, now, pruned_before, late_after)
        )
    for at, job in by_time.items():
        if at not in entries:
            entries[at] = _fired(job, None, timeline, late_after)
    ordered = sorted(entries.values(), key=lambda slot: slot.at)
    truncated = len(ordered) > limit
    return Ledger(ordered[-limit:] if truncated else ordered, truncated)


# --- planned slots --------------------------------------------------------------------------


def _planned(
    schedule: ScheduleRow,
    versions: Sequence[VersionTiming],
    start: datetime,
    end: datetime,
    limit: int,
) -> list[tuple[datetime, int]]:
    """Planned slots in ``[start, end]`` with the version planning each, newest first, at
    most ``limit``. Walks back from ``end``, newest version first, so a long window of a
    frequent schedule costs ``limit`` steps, not one per slot."""
    found: list[tuple[datetime, int]] = []
    for index in range(len(versions) - 1, -1, -1):
        version = versions[index]
        after = version["created_at"]  # exclusive: a change applies to slots after it
        upto = end if index + 1 == len(versions) else min(end, versions[index + 1]["created_at"])
        if upto < start or upto <= after:
            if after < start:
                break
            continue
        spec = version["spec"]
        trigger = schedule_trigger(spec, schedule["created_at"])
        window = schedule_window(spec)
        if window.end_at is not None:
            upto = min(upto, window.end_at)
        lowest = start if window.start_at is None else max(start, window.start_at)
        cursor = upto
        while len(found) < limit:
            try:
                slot = trigger.latest_fire(cursor)
            except (OverflowError, ValueError):  # before the first representable date
                slot = None
            if slot is None or slot < lowest or slot <= after:
                break
            found.append((slot, version["version"]))
            cursor = slot - _MICRO
        if len(found) >= limit or after < start:
            break
    return found


# --- the schedule's state over time ---------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    at: datetime
    state: str
    event: ScheduleEventRow | None


class _Timeline:
    """The versions in order, the state at any instant, and the ``missed`` events."""

    def __init__(
        self,
        schedule: ScheduleRow,
        versions: Sequence[VersionTiming],
        events: Sequence[ScheduleEventRow],
        calendars: Calendars | None = None,
    ) -> None:
        self._calendars = calendars or {}
        self._filters: dict[int | None, SlotFilter | None] = {}
        ordered = sorted(versions, key=lambda v: (v["created_at"], v["version"]))
        if not ordered:  # every schedule has its first version; be safe with bare rows
            ordered = [
                {
                    "version": schedule["version"],
                    "spec": schedule["spec"],
                    "created_at": schedule["created_at"],
                }
            ]
        self.versions = ordered
        self._version_times = [v["created_at"] for v in ordered]
        self._specs = {v["version"]: v["spec"] for v in ordered}
        self.missed: list[tuple[datetime, datetime, str | None]] = []
        changes: list[_Change] = []
        previous: bool | None = None
        for version in ordered:  # enabling and disabling make versions: the base line
            enabled = version["spec"]["enabled"]
            if enabled != previous:
                changes.append(_Change(version["created_at"], _state_of(enabled), None))
            previous = enabled
        for event in sorted(events, key=lambda e: e["at"]):
            kind = event["kind"]
            if kind == ScheduleEventKind.MISSED:
                covered = _missed_range(event)
                if covered is not None:
                    self.missed.append(covered)
            elif kind == ScheduleEventKind.PAUSED:
                changes.append(_Change(event["at"], ScheduleState.PAUSED.value, event))
            elif kind in (ScheduleEventKind.ENABLED, ScheduleEventKind.DISABLED):
                changes.append(_Change(event["at"], str(kind), event))
            elif kind == ScheduleEventKind.RESUMED:
                spec = self._specs.get(event["version"]) or self.spec_at(event["at"])
                changes.append(_Change(event["at"], _state_of(spec["enabled"]), event))
        # Stable: at one instant, an event comes after the version it made.
        self._changes = sorted(changes, key=lambda c: c.at)
        self._change_times = [c.at for c in self._changes]

    def spec_at(self, at: datetime) -> ScheduleSpec:
        index = max(0, bisect_right(self._version_times, at) - 1)
        return self.versions[index]["spec"]

    def spec(self, version: int | None, at: datetime) -> ScheduleSpec:
        found = self._specs.get(version) if version is not None else None
        return found or self.spec_at(at)

    def excluded_by(self, version: int | None, at: datetime) -> str | None:
        """Why the planning version's calendars rule the slot out (None if they do not)."""
        if version not in self._filters:
            self._filters[version] = spec_slot_filter(self.spec(version, at), self._calendars)
        rules = self._filters[version]
        return None if rules is None else rules.reason(at)

    def change_at(self, at: datetime) -> _Change | None:
        """The state change in force at ``at``; a slot at the very instant of a pause or a
        disable counts as paused or disabled (the scheduler would not fire it then)."""
        index = bisect_right(self._change_times, at) - 1
        if index < 0:
            return None
        change = self._changes[index]
        if change.at == at and change.state == ScheduleState.ENABLED and index > 0:
            before = self._changes[index - 1]
            if before.state != ScheduleState.ENABLED:
                return before
        return change

    def missed_by(self, at: datetime) -> str | None:
        """The misfire policy of a ``missed`` event covering ``at`` ("" if it names none)."""
        for first, last, policy in self.missed:
            if first <= at <= last:
                return policy or ""
        return None


def _state_of(enabled: bool) -> str:
    return (ScheduleState.ENABLED if enabled else ScheduleState.DISABLED).value


def _missed_range(event: ScheduleEventRow) -> tuple[datetime, datetime, str | None] | None:
    """The slots a ``missed`` event speaks for: ``[from, until]`` (or ``first``/``last``)."""
    details: dict[str, Any] = event["details"] or {}
    try:
        first = parse_iso(details.get("from") or details.get("first"))
        last = parse_iso(details.get("until") or details.get("last")) or event["at"]
    except (TypeError, ValueError, AttributeError):
        return None
    if first is None:
        return None
    policy = details.get("policy")
    return first, last, policy if isinstance(policy, str) else None


# --- outcomes -------------------------------------------------------------------------------


def _fired(job: SlotJob, version: int | None, timeline: _Timeline, late_after: timedelta) -> Slot:
    at = job["scheduled_for"]
    lag = max(0.0, (job["created_at"] - at).total_seconds())
    common: dict[str, Any] = {
        "at": at,
        "lag_seconds": lag,
        "job_id": job["id"],
        "job_status": job["status"],
        "version": version,
    }
    if job["status"] == JobStatus.SKIPPED:
        policy = timeline.spec(version, at)["concurrency"]
        reason = f"skipped by the concurrency policy '{policy}': the previous run was not done"
        return Slot(outcome=SlotOutcome.SKIPPED, reason=reason, **common)
    backfilled = job.get("trigger") == JobTrigger.BACKFILL
    if version is None:
        reason = "fired for a time that is not one of the planned slots (the schedule changed)"
        if backfilled:
            reason = "run by a backfill, for a time the schedule did not plan then"
        return Slot(outcome=SlotOutcome.FIRED, reason=reason, **common)
    late = lag > late_after.total_seconds()
    if backfilled:
        common["reason"] = "run by a backfill"
    return Slot(outcome=SlotOutcome.LATE if late else SlotOutcome.ON_TIME, **common)


def _not_fired(
    at: datetime,
    version: int,
    timeline: _Timeline,
    schedule: ScheduleRow,
    now: datetime,
    pruned_before: datetime | None,
    late_after: timedelta,
) -> Slot:
    excluded = timeline.excluded_by(version, at)
    if excluded is not None:
        return Slot(at, SlotOutcome.EXCLUDED, reason=excluded, version=version)
    change = timeline.change_at(at)
    if change is not None and change.state != ScheduleState.ENABLED:
        outcome = SlotOutcome(change.state)
        return Slot(at, outcome, reason=_state_reason(change), version=version)
    if pruned_before is not None and at < pruned_before:
        reason = "older than the job history kept (retention): its job may have been pruned"
        return Slot(at, SlotOutcome.UNKNOWN, reason=reason, version=version)
    policy = timeline.missed_by(at)
    if policy is not None:
        policy = policy or timeline.spec(version, at)["misfire_policy"]
        reason = (
            "Chronos was not running (or was behind) at the slot and the misfire policy "
            f"'{policy}' did not fire it"
        )
    elif now - at <= late_after:
        return Slot(at, SlotOutcome.DUE, reason="due now: not fired yet", version=version)
    elif _still_pending(schedule, at):
        reason = "not fired yet: the scheduler has not reached it (Chronos is down or behind)"
    else:
        reason = "no job was created for this slot"
    return Slot(at, SlotOutcome.MISSED, reason=reason, version=version)


def _still_pending(schedule: ScheduleRow, at: datetime) -> bool:
    """The slot is at or after the schedule's next run: the scheduler has yet to plan it."""
    next_run_at = schedule["next_run_at"]
    return (
        schedule["state"] == ScheduleState.ENABLED and next_run_at is not None and next_run_at <= at
    )


def _state_reason(change: _Change) -> str:
    what = "paused" if change.state == ScheduleState.PAUSED else "disabled"
    event = change.event
    if event is None:
        return f"the schedule was {what}"
    by = f" by {event['actor']}" if event["actor"] else ""
    note = f": {event['note']}" if event["note"] else ""
    return f"the schedule was {what}{by}{note}"
