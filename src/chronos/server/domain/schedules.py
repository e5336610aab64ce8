"""Schedules as rules: their timing, their next run, versions, state changes and PATCH merging.
Pure functions over rows and specs; the schedule service stores what they return.

    >>> row = new_schedule("acc_1", spec, now)
    >>> changes = state_change(row, ScheduleState.PAUSED, now)   # {"state": "paused", ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from chronos.server.domain.calendars import (
    Calendars,
    CalendarTrigger,
    SlotFilter,
    count_excluded,
    series_trigger,
    slot_filter,
)
from chronos.server.domain.durations import CANONICAL_UNITS
from chronos.server.domain.hashing import HashError, has_hashes, resolve_hashes, spread_offset
from chronos.server.domain.rows import DstPolicyData, ScheduleRow, ScheduleSpec
from chronos.server.domain.states import ScheduleState
from chronos.server.domain.timing import (
    CronTrigger,
    FirePlan,
    IntervalTrigger,
    MisfirePolicy,
    ScheduleTrigger,
    Trigger,
    Window,
    canonical_cron,
    next_fire,
    parse_iso,
    plan_fires,
    upcoming,
)
from chronos.server.ids import new_id

# Keys that say "when" / "how delivered": a PATCH giving one replaces the whole group.
EXCLUSIVE_GROUPS = (
    ("cron", "interval", "schedule"),
    ("delivery", "webhook"),
)


DEFAULT_DST_POLICY: DstPolicyData = {"gap": "shift", "overlap": "first"}


def spec_dst_policy(spec: ScheduleSpec) -> DstPolicyData:
    return spec.get("dst_policy") or DEFAULT_DST_POLICY


def spec_jitter(spec: ScheduleSpec) -> float:
    return spec.get("jitter") or 0.0


def spec_spread(spec: ScheduleSpec) -> float:
    return spec.get("spread") or 0.0


def spec_exclude_calendars(spec: ScheduleSpec) -> list[str]:
    return spec.get("exclude_calendars") or []


def spec_only_calendar(spec: ScheduleSpec) -> str | None:
    return spec.get("only_calendar")


def spec_cron_resolved(spec: ScheduleSpec) -> str | None:
    """The schedule's cron with its ``H`` terms resolved from its name (what it fires by), or
    None when it has no cron or no ``H`` term."""
    cron = spec["cron"]
    if cron is None:
        return None
    text = canonical_cron(cron)
    if not has_hashes(text):
        return None
    try:
        return resolve_hashes(text, spec["name"])
    except HashError:  # stored crons were validated; an old one that no longer is shows none
        return None


def schedule_trigger(spec: ScheduleSpec, created_at: datetime) -> ScheduleTrigger:
    """The schedule's slots: its cron (``H`` terms resolved from its name, under its DST
    policy) or interval, every slot moved by its ``spread`` offset (``domain.hashing``)."""
    offset = spread_offset(spec["name"], spec_spread(spec))
    if spec["cron"] is not None:
        policy = spec_dst_policy(spec)
        return CronTrigger.build(
            spec["cron"],
            spec["timezone"],
            seed=spec["name"],
            gap=policy["gap"],
            overlap=policy["overlap"],
            offset=offset,
        )
    assert spec["interval"] is not None
    seconds = spec["interval"]["value"] * CANONICAL_UNITS[spec["interval"]["unit"]]
    start_at = parse_iso(spec["start_at"])
    if start_at is not None:
        return IntervalTrigger(seconds, start_at + timedelta(seconds=offset), first_index=0)
    anchor = created_at.replace(microsecond=0) + timedelta(seconds=offset)
    return IntervalTrigger(seconds, anchor, first_index=1)


def schedule_window(spec: ScheduleSpec) -> Window:
    return Window(parse_iso(spec["start_at"]), parse_iso(spec["end_at"]))


def calendar_names(spec: ScheduleSpec) -> list[str]:
    """The calendars a schedule names (``exclude_calendars`` and ``only_calendar``)."""
    only = spec_only_calendar(spec)
    names = list(spec_exclude_calendars(spec))
    return [*names, only] if only is not None and only not in names else names


def spec_slot_filter(spec: ScheduleSpec, calendars: Calendars | None) -> SlotFilter | None:
    """Which slots the schedule's calendars rule out (None when it names none)."""
    return slot_filter(
        spec_exclude_calendars(spec), spec_only_calendar(spec), spec["timezone"], calendars or {}
    )


def fire_trigger(
    spec: ScheduleSpec, created_at: datetime, calendars: Calendars | None = None
) -> Trigger:
    """The trigger the scheduler fires by: ``schedule_trigger`` without the slots the
    schedule's calendars exclude (``calendars``: those it names, compiled, by name)."""
    trigger = schedule_trigger(spec, created_at)
    rules = spec_slot_filter(spec, calendars)
    return trigger if rules is None else CalendarTrigger(trigger, rules)


def next_run_at(
    spec: ScheduleSpec,
    state: str,
    created_at: datetime,
    now: datetime,
    calendars: Calendars | None = None,
) -> datetime | None:
    """The next slot after ``now`` that its calendars do not exclude, or None when the
    schedule is not enabled or has ended. Slots missed while paused or disabled are not
    caught up: counting restarts ``now``."""
    if state != ScheduleState.ENABLED:
        return None
    return next_fire(fire_trigger(spec, created_at, calendars), now, schedule_window(spec))


def plan(schedule: ScheduleRow, now: datetime, calendars: Calendars | None = None) -> FirePlan:
    """Which of a due schedule's slots fire now, under its misfire policy; slots its
    calendars exclude never fire, not even a ``next_run_at`` planned before they changed."""
    spec = schedule["spec"]
    due = schedule["next_run_at"]
    assert due is not None
    trigger = fire_trigger(spec, schedule["created_at"], calendars)
    if isinstance(trigger, CalendarTrigger) and trigger.filter.reason(due) is not None:
        due = next_fire(trigger, due, schedule_window(spec))
        if due is None or due > now:
            return FirePlan([], due)
    return plan_fires(
        trigger,
        due,
        now,
        policy=MisfirePolicy(spec["misfire_policy"]),
        catchup_window=timedelta(seconds=spec["catchup_window"]),
        window=schedule_window(spec),
    )


def excluded_count(
    schedule: ScheduleRow, calendars: Calendars | None, until: datetime | None, now: datetime
) -> int:
    """How many slots from the schedule's ``next_run_at`` up to ``until`` (the round's new
    ``next_run_at``; ``now`` when there is none) its calendars exclude: what a scheduler round
    passes over, for the slot metrics."""
    spec = schedule["spec"]
    rules = spec_slot_filter(spec, calendars)
    start = schedule["next_run_at"]
    if rules is None or start is None:
        return 0
    end = now if until is None else until
    return count_excluded(schedule_trigger(spec, schedule["created_at"]), rules, start, end)


def next_run_after_calendar_change(
    row: ScheduleRow, now: datetime, calendars: Calendars | None
) -> datetime | None:
    """The schedule's ``next_run_at`` once a calendar it names has changed: a slot already
    due (the scheduler has not reached it yet) is kept if the calendars still allow it, and
    otherwise the next allowed slot after it; a future one is found again from ``now``."""
    if row["state"] != ScheduleState.ENABLED:
        return row["next_run_at"]
    spec = row["spec"]
    due = row["next_run_at"]
    after = now if due is None or due > now else due - timedelta(microseconds=1)
    return next_fire(fire_trigger(spec, row["created_at"], calendars), after, schedule_window(spec))


def new_schedule(
    account_id: str, spec: ScheduleSpec, now: datetime, calendars: Calendars | None = None
) -> ScheduleRow:
    """A new schedule at version 1."""
    state = ScheduleState.ENABLED if spec["enabled"] else ScheduleState.DISABLED
    return {
        "id": new_id("sch"),
        "account_id": account_id,
        "name": spec["name"],
        "handler": spec["handler"],
        "tags": spec["tags"],
        "spec": spec,
        "state": state.value,
        "next_run_at": next_run_at(spec, state, now, now, calendars),
        "last_run_at": None,
        "last_status": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


class ScheduleChanges(TypedDict, total=False):
    """Columns of a schedule that a change sets."""

    name: str
    handler: str | None
    tags: dict[str, str]
    spec: ScheduleSpec
    state: str
    next_run_at: datetime | None
    version: int
    updated_at: datetime


def with_changes(row: ScheduleRow, changes: ScheduleChanges) -> ScheduleRow:
    """``row`` as it is once ``changes`` are stored."""
    merged: dict[str, Any] = {**row, **changes}
    return cast(ScheduleRow, merged)


def spec_change(
    row: ScheduleRow, spec: ScheduleSpec, now: datetime, calendars: Calendars | None = None
) -> ScheduleChanges:
    """The column changes that store ``spec`` as the schedule's next version."""
    state = row["state"]
    if spec["enabled"] != row["spec"]["enabled"]:
        state = ScheduleState.ENABLED.value if spec["enabled"] else ScheduleState.DISABLED.value
    return {
        "name": spec["name"],
        "handler": spec["handler"],
        "tags": spec["tags"],
        "spec": spec,
        "state": state,
        "next_run_at": next_run_at(spec, state, row["created_at"], now, calendars),
        "version": row["version"] + 1,
        "updated_at": now,
    }


def unpaused(row: ScheduleRow) -> ScheduleState:
    """Where ``resume`` leads: back to what the configuration says."""
    return ScheduleState.ENABLED if row["spec"]["enabled"] else ScheduleState.DISABLED


def state_change(
    row: ScheduleRow, target: ScheduleState, now: datetime, calendars: Calendars | None = None
) -> ScheduleChanges:
    """The column changes that move a schedule to ``target`` (empty when nothing changes).

    Enabling and disabling change the configuration (``enabled``), so they make a new version;
    pausing and resuming do not.
    """
    spec = row["spec"].copy()
    if target in (ScheduleState.ENABLED, ScheduleState.DISABLED):
        spec["enabled"] = target is ScheduleState.ENABLED
    if row["state"] == target.value and spec == row["spec"]:
        return {}
    changes: ScheduleChanges = {
        "state": target.value,
        "spec": spec,
        "next_run_at": next_run_at(spec, target, row["created_at"], now, calendars),
        "updated_at": now,
    }
    if spec != row["spec"]:
        changes["version"] = row["version"] + 1
    return changes


def patch_base(spec: ScheduleSpec, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a PATCH applies to: the current one, minus what the patch replaces.

    Giving any key of an exclusive group (``cron``/``interval``/``schedule``,
    ``delivery``/``webhook``) replaces the group. ``max_retries`` and ``retry_policy`` are kept
    apart (patching one keeps the other), except that a new ``retry_policy.max_attempts``
    replaces ``max_retries``.
    """
    base = {key: value for key, value in spec.items() if value is not None}
    for group in EXCLUSIVE_GROUPS:
        if any(key in patch for key in group):
            for key in group:
                base.pop(key, None)
    policy = patch.get("retry_policy")
    if isinstance(policy, dict) and policy.get("max_attempts") is not None:
        base.pop("max_retries", None)
    return {**base, **patch}


def upcoming_fires(
    row: ScheduleRow, now: datetime, count: int, calendars: Calendars | None = None
) -> list[datetime]:
    """The next ``count`` fire times (those its calendars do not exclude); a slot that is
    due but not yet fired still counts."""
    if row["state"] != ScheduleState.ENABLED:
        return []
    spec = row["spec"]
    trigger = fire_trigger(spec, row["created_at"], calendars)
    times: list[datetime] = []
    after = now
    due = row["next_run_at"]
    if due is not None and due <= now:
        after = due
        if not isinstance(trigger, CalendarTrigger) or trigger.filter.reason(due) is None:
            times.append(due)
    remaining = count - len(times)
    if remaining > 0:
        times += upcoming(series_trigger(trigger, after), after, remaining, schedule_window(spec))
    return times
