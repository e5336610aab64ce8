"""The fire ledger (``domain/ledger.py``): expected slots against the jobs that fired, with
hand-made schedules, versions, events and jobs (pure; no database, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos.server.domain.ledger import (
    MAX_SLOTS,
    Ledger,
    Slot,
    SlotJob,
    SlotOutcome,
    VersionTiming,
    build_ledger,
)
from chronos.server.domain.rows import ScheduleEventRow, ScheduleRow, ScheduleSpec
from chronos.server.domain.schedules import new_schedule
from chronos.server.normalize import normalize_schedule
from chronos.server.schemas import ScheduleIn

LATE_AFTER = timedelta(seconds=10)
CREATED = datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC)


def t(text: str) -> datetime:
    """``"01:00"`` or ``"01:00:05"`` on 2026-03-01, or a full ISO instant, in UTC."""
    if "T" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    parts = [int(p) for p in text.split(":")]
    return datetime(2026, 3, 1, *parts, tzinfo=UTC)


def spec(**fields: Any) -> ScheduleSpec:
    body = ScheduleIn.model_validate({"name": "nightly", "handler": "h", **fields})
    return normalize_schedule(body, max_payload_bytes=1024)


def schedule(first: ScheduleSpec, created: datetime = CREATED, **changes: Any) -> ScheduleRow:
    """A schedule whose scheduler is up to date (no next run in the past), unless changed."""
    row = new_schedule("acc_1", first, created)
    return {**row, "next_run_at": None, **changes}  # type: ignore[typeddict-item]


def version(number: int, config: ScheduleSpec, at: datetime) -> VersionTiming:
    return {"version": number, "spec": config, "created_at": at}


def event(kind: str, at: datetime, **fields: Any) -> ScheduleEventRow:
    row: ScheduleEventRow = {
        "id": f"sev_{kind}_{at.timestamp()}",
        "schedule_id": "sch_1",
        "at": at,
        "kind": kind,
        "actor": None,
        "note": None,
        "details": None,
        "version": 1,
    }
    return {**row, **fields}  # type: ignore[typeddict-item]


def job(at: datetime, lag: float = 0.5, status: str = "completed") -> SlotJob:
    return {
        "id": f"job_{int(at.timestamp())}",
        "scheduled_for": at,
        "created_at": at + timedelta(seconds=lag),
        "status": status,
    }


def ledger(
    row: ScheduleRow,
    *,
    versions: list[VersionTiming] | None = None,
    events: list[ScheduleEventRow] | None = None,
    jobs: list[SlotJob] | None = None,
    start: datetime = t("00:00"),
    end: datetime | None = None,
    now: datetime = t("03:30"),
    pruned_before: datetime | None = None,
) -> Ledger:
    return build_ledger(
        row,
        versions if versions is not None else [version(1, row["spec"], row["created_at"])],
        events or [],
        jobs or [],
        start=start,
        end=end or now,
        now=now,
        pruned_before=pruned_before,
        late_after=LATE_AFTER,
    )


def outcomes(result: Ledger) -> list[tuple[datetime, str]]:
    return [(slot.at, slot.outcome.value) for slot in result.slots]


def at(result: Ledger, instant: datetime) -> Slot:
    [found] = [slot for slot in result.slots if slot.at == instant]
    return found


HOURLY = spec(cron="0 * * * *")


def test_a_job_created_within_ten_seconds_is_on_time_and_later_is_late():
    result = ledger(
        schedule(HOURLY),
        jobs=[job(t("01:00"), lag=0.2), job(t("02:00"), lag=10), job(t("03:00"), lag=42)],
    )
    assert outcomes(result) == [
        (t("01:00"), "on_time"),
        (t("02:00"), "on_time"),
        (t("03:00"), "late"),
    ]
    late = at(result, t("03:00"))
    assert late.lag_seconds == 42 and late.job_id == "job_" + str(int(t("03:00").timestamp()))
    assert late.job_status == "completed" and late.version == 1 and late.reason is None
    assert not result.truncated


def test_a_job_skipped_by_the_concurrency_policy_is_skipped_with_the_policy():
    result = ledger(schedule(HOURLY), jobs=[job(t("01:00"), status="skipped")], now=t("01:00:01"))
    slot = at(result, t("01:00"))
    assert slot.outcome is SlotOutcome.SKIPPED
    assert "concurrency policy 'forbid'" in (slot.reason or "")


def test_slots_inside_a_paused_period_are_paused_with_who_and_why():
    events = [
        event("paused", t("01:30"), actor="dashboard: ops (chrns_Ab…)", note="db migration"),
        event("resumed", t("02:30")),
    ]
    result = ledger(schedule(HOURLY), events=events, jobs=[job(t("01:00"))])
    assert outcomes(result) == [
        (t("01:00"), "on_time"),
        (t("02:00"), "paused"),
        (t("03:00"), "missed"),
    ]
    assert at(result, t("02:00")).reason == (
        "the schedule was paused by dashboard: ops (chrns_Ab…): db migration"
    )
    assert at(result, t("03:00")).reason == "no job was created for this slot"


def test_the_state_before_the_window_counts():
    events = [event("paused", t("00:10"))]
    result = ledger(schedule(HOURLY), events=events, start=t("01:30"))
    assert outcomes(result) == [(t("02:00"), "paused"), (t("03:00"), "paused")]


def test_slots_of_a_disabled_period_are_disabled():
    enabled, disabled = HOURLY, {**HOURLY, "enabled": False}
    versions = [
        version(1, enabled, CREATED),
        version(2, disabled, t("01:30")),  # type: ignore[arg-type]
        version(3, enabled, t("02:30")),
    ]
    events = [event("disabled", t("01:30"), version=2), event("enabled", t("02:30"), version=3)]
    result = ledger(schedule(HOURLY), versions=versions, events=events, jobs=[job(t("03:00"))])
    assert outcomes(result) == [
        (t("01:00"), "missed"),
        (t("02:00"), "disabled"),
        (t("03:00"), "on_time"),
    ]
    assert at(result, t("02:00")).version == 2


def test_a_schedule_created_disabled_shows_disabled_slots_without_events():
    row = schedule(spec(cron="0 * * * *", enabled=False))
    assert {o for _, o in outcomes(ledger(row))} == {"disabled"}


def test_a_missed_event_covering_the_slot_explains_the_downtime():
    downtime = event(
        "missed",
        t("03:00:05"),
        details={
            "count": 2,
            "from": "2026-03-01T01:00:00Z",
            "until": "2026-03-01T03:00:05Z",
            "policy": "run_once",
        },
    )
    result = ledger(schedule(HOURLY), events=[downtime], jobs=[job(t("03:00"), lag=5)])
    assert outcomes(result) == [
        (t("01:00"), "missed"),
        (t("02:00"), "missed"),
        (t("03:00"), "on_time"),
    ]
    assert at(result, t("01:00")).reason == (
        "Chronos was not running (or was behind) at the slot and the misfire policy "
        "'run_once' did not fire it"
    )


def test_a_missed_slot_without_an_event_says_no_job_was_created():
    row = schedule(HOURLY, next_run_at=t("04:00"))
    result = ledger(row, jobs=[job(t("01:00")), job(t("03:00"))])
    missed = at(result, t("02:00"))
    assert missed.outcome is SlotOutcome.MISSED
    assert missed.reason == "no job was created for this slot"
    assert missed.job_id is None and missed.lag_seconds is None


def test_a_slot_past_the_schedules_next_run_is_not_fired_yet():
    row = schedule(HOURLY, next_run_at=t("02:00"))  # the scheduler stopped before 02:00
    result = ledger(row, jobs=[job(t("01:00"))])
    assert at(result, t("03:00")).reason == (
        "not fired yet: the scheduler has not reached it (Chronos is down or behind)"
    )


def test_a_slot_within_ten_seconds_is_due_not_missed():
    result = ledger(schedule(HOURLY), jobs=[job(t("01:00"))], now=t("02:00:09"))
    assert outcomes(result)[-1] == (t("02:00"), "due")
    later = ledger(schedule(HOURLY), jobs=[job(t("01:00"))], now=t("02:00:11"))
    assert outcomes(later)[-1] == (t("02:00"), "missed")


def test_a_new_version_switches_the_cron_mid_window():
    half_past = spec(cron="30 * * * *")
    versions = [version(1, HOURLY, CREATED), version(2, half_past, t("01:45"))]
    result = ledger(schedule(HOURLY), versions=versions, jobs=[job(t("01:00")), job(t("02:30"))])
    assert outcomes(result) == [
        (t("01:00"), "on_time"),
        (t("02:30"), "on_time"),
        (t("03:30"), "due"),
    ]
    assert [slot.version for slot in result.slots] == [1, 2, 2]


def test_a_change_applies_strictly_after_it_is_made():
    # Changed at 02:00 exactly: the old cron's 02:00 slot is still the old version's.
    versions = [version(1, HOURLY, CREATED), version(2, spec(cron="30 * * * *"), t("02:00"))]
    result = ledger(schedule(HOURLY), versions=versions, jobs=[job(t("02:00"))], now=t("02:45"))
    assert [(s.at, s.version) for s in result.slots] == [
        (t("01:00"), 1),
        (t("02:00"), 1),
        (t("02:30"), 2),
    ]


def test_slots_older_than_the_retention_horizon_are_unknown_unless_their_job_is_kept():
    result = ledger(schedule(HOURLY), jobs=[job(t("01:00"))], pruned_before=t("02:30"))
    assert outcomes(result) == [
        (t("01:00"), "on_time"),
        (t("02:00"), "unknown"),
        (t("03:00"), "missed"),
    ]
    assert "retention" in (at(result, t("02:00")).reason or "")


def test_a_paused_slot_stays_paused_beyond_the_retention_horizon():
    result = ledger(
        schedule(HOURLY), events=[event("paused", t("00:10"))], pruned_before=t("03:30")
    )
    assert {o for _, o in outcomes(result)} == {"paused"}


def test_dst_days_in_new_york_follow_the_schedulers_own_cron_rules():
    # 02:30 does not exist on 2026-03-08 (clocks jump from 02:00 to 03:00): it fires once, at
    # 03:00 EDT; on 2026-11-01, 01:30 happens twice and fires once, at its first occurrence.
    spring = spec(cron="30 2 * * *", timezone="America/New_York")
    row = schedule(spring, created=t("2026-03-06T00:00:00Z"))
    result = ledger(row, start=t("2026-03-07T00:00:00Z"), now=t("2026-03-10T00:00:00Z"))
    assert [s.at for s in result.slots] == [
        t("2026-03-07T07:30:00Z"),  # 02:30 EST
        t("2026-03-08T07:00:00Z"),  # 03:00 EDT: the first valid instant after the gap
        t("2026-03-09T06:30:00Z"),  # 02:30 EDT
    ]
    fall = spec(cron="30 1 * * *", timezone="America/New_York")
    row = schedule(fall, created=t("2026-10-30T00:00:00Z"))
    fired = [job(t("2026-10-31T05:30:00Z")), job(t("2026-11-01T05:30:00Z"))]
    result = ledger(row, jobs=fired, start=t("2026-10-31T00:00:00Z"), now=t("2026-11-02T12:00:00Z"))
    assert outcomes(result) == [
        (t("2026-10-31T05:30:00Z"), "on_time"),  # 01:30 EDT
        (t("2026-11-01T05:30:00Z"), "on_time"),  # 01:30 EDT, the first of the two
        (t("2026-11-02T06:30:00Z"), "missed"),  # 01:30 EST
    ]


def test_intervals_count_from_the_schedules_creation():
    row = schedule(spec(interval="90s"), created=t("2026-03-01T00:00:10.500000Z"))
    result = ledger(row, start=t("00:00"), now=t("00:05"))
    assert [s.at for s in result.slots] == [t("00:01:40"), t("00:03:10"), t("00:04:40")]


def test_a_job_off_the_plan_still_shows_as_fired():
    result = ledger(schedule(HOURLY), jobs=[job(t("01:00")), job(t("01:17"), lag=3)])
    off = at(result, t("01:17"))
    assert off.outcome is SlotOutcome.FIRED and off.version is None and off.lag_seconds == 3


def test_a_window_of_a_per_second_schedule_keeps_the_latest_thousand_slots():
    row = schedule(spec(interval="1s"), created=t("00:00"))
    result = ledger(row, start=t("00:00"), now=t("02:00"))
    assert result.truncated and len(result.slots) == MAX_SLOTS
    assert result.slots[-1].at == t("02:00") and result.slots[0].at == t("01:43:21")
    assert all(slot.outcome is not SlotOutcome.ON_TIME for slot in result.slots)


def test_slots_before_the_schedule_existed_or_in_the_future_are_not_planned():
    result = ledger(schedule(HOURLY, created=t("01:30")), start=t("00:00"), end=t("06:00"))
    assert [s.at for s in result.slots] == [t("02:00"), t("03:00")]


def test_a_start_and_end_window_bounds_the_plan():
    bounded = spec(cron="0 * * * *", start_at="2026-03-01T01:30:00Z", end_at="2026-03-01T02:30:00Z")
    result = ledger(schedule(bounded))
    assert [s.at for s in result.slots] == [t("02:00")]
