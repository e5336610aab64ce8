"""Schedules as rules: their timing, their next run, versions, state changes and PATCH merging.
Pure functions over rows and specs; the schedule service stores what they return.

    >>> row = new_schedule("acc_1", spec, now)
    >>> changes = state_change(row, ScheduleState.PAUSED, now)   # {"state": "paused", ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from chronos.server.domain.durations import CANONICAL_UNITS
from chronos.server.domain.rows import DstPolicyData, ScheduleRow, ScheduleSpec
from chronos.server.domain.states import ScheduleState
from chronos.server.domain.timing import (
    CronTrigger,
    FirePlan,
    IntervalTrigger,
    MisfirePolicy,
    ScheduleTrigger,
    Window,
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


def schedule_trigger(spec: ScheduleSpec, created_at: datetime) -> ScheduleTrigger:
    if spec["cron"] is not None:
        return CronTrigger(spec["cron"], spec["timezone"])
    assert spec["interval"] is not None
    seconds = spec["interval"]["value"] * CANONICAL_UNITS[spec["interval"]["unit"]]
    start_at = parse_iso(spec["start_at"])
    if start_at is not None:
        return IntervalTrigger(seconds, start_at, first_index=0)
    return IntervalTrigger(seconds, created_at.replace(microsecond=0), first_index=1)


def schedule_window(spec: ScheduleSpec) -> Window:
    return Window(parse_iso(spec["start_at"]), parse_iso(spec["end_at"]))


def next_run_at(
    spec: ScheduleSpec, state: str, created_at: datetime, now: datetime
) -> datetime | None:
    """The next slot after ``now``, or None when the schedule is not enabled or has ended.
    Slots missed while paused or disabled are not caught up: counting restarts ``now``."""
    if state != ScheduleState.ENABLED:
        return None
    return next_fire(schedule_trigger(spec, created_at), now, schedule_window(spec))


def plan(schedule: ScheduleRow, now: datetime) -> FirePlan:
    """Which of a due schedule's slots fire now, under its misfire policy."""
    spec = schedule["spec"]
    assert schedule["next_run_at"] is not None
    return plan_fires(
        schedule_trigger(spec, schedule["created_at"]),
        schedule["next_run_at"],
        now,
        policy=MisfirePolicy(spec["misfire_policy"]),
        catchup_window=timedelta(seconds=spec["catchup_window"]),
        window=schedule_window(spec),
    )


def new_schedule(account_id: str, spec: ScheduleSpec, now: datetime) -> ScheduleRow:
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
        "next_run_at": next_run_at(spec, state, now, now),
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


def spec_change(row: ScheduleRow, spec: ScheduleSpec, now: datetime) -> ScheduleChanges:
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
        "next_run_at": next_run_at(spec, state, row["created_at"], now),
        "version": row["version"] + 1,
        "updated_at": now,
    }


def unpaused(row: ScheduleRow) -> ScheduleState:
    """Where ``resume`` leads: back to what the configuration says."""
    return ScheduleState.ENABLED if row["spec"]["enabled"] else ScheduleState.DISABLED


def state_change(row: ScheduleRow, target: ScheduleState, now: datetime) -> ScheduleChanges:
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
        "next_run_at": next_run_at(spec, target, row["created_at"], now),
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


def upcoming_fires(row: ScheduleRow, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times; a slot that is due but not yet fired still counts."""
    if row["state"] != ScheduleState.ENABLED:
        return []
    times: list[datetime] = []
    after = now
    if row["next_run_at"] is not None and row["next_run_at"] <= now:
        after = row["next_run_at"]
        times.append(row["next_run_at"])
    remaining = count - len(times)
    if remaining > 0:
        spec = row["spec"]
        trigger = schedule_trigger(spec, row["created_at"])
        times += upcoming(trigger, after, remaining, schedule_window(spec))
    return times
