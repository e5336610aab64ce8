"""The pure rules of heartbeat monitors (domain/monitors.py): what a ping does, when a monitor
is late or failed, and that the answer depends only on the row and the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.server.domain.monitors import (
    MonitorProblem,
    MonitorRow,
    MonitorSpec,
    MonitorState,
    PingKind,
    audit_view,
    describe_expectation,
    expected_after,
    late_after,
    monitor_problem,
    monitor_spec,
    monitor_state,
    new_monitor,
    ping_body_text,
    ping_changes,
    spec_change,
    token_hash,
    with_changes,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def spec(**fields: object) -> MonitorSpec:
    base: MonitorSpec = {
        "name": "backup",
        "description": None,
        "tags": {},
        "cron": None,
        "interval_seconds": 3600.0,
        "timezone": "UTC",
        "grace_seconds": 300.0,
        "max_runtime_seconds": None,
        "enabled": True,
    }
    return {**base, **fields}  # type: ignore[typeddict-item]


def monitor(**fields: object) -> MonitorRow:
    return new_monitor("acc_1", spec(**fields), T0, token="t" * 32)


def ping(row: MonitorRow, kind: PingKind, at: datetime) -> MonitorRow:
    return with_changes(row, ping_changes(row, kind, at))


def test_a_new_monitor_expects_its_first_ping_and_goes_late_without_one():
    row = monitor()
    assert row["state"] == "new" and row["next_expected_at"] == T0 + timedelta(hours=1)
    assert row["ping_token_hash"] == token_hash("t" * 32)
    assert monitor_problem(row, T0 + timedelta(hours=1, minutes=5)) is None
    problem = monitor_problem(row, T0 + timedelta(hours=1, minutes=5, seconds=1))
    assert problem == MonitorProblem(
        kind="late",
        since=T0 + timedelta(hours=1, minutes=5),
        summary="backup: never pinged; a ping was expected by 2026-03-01T13:00:00Z",
    )


def test_ok_fail_and_start_pings():
    row = ping(monitor(), PingKind.OK, T0 + timedelta(minutes=10))
    assert row["state"] == "up" and row["next_expected_at"] == T0 + timedelta(minutes=70)
    row = ping(row, PingKind.FAIL, T0 + timedelta(minutes=20))
    assert row["state"] == "failed" and row["last_ping_kind"] == "fail"
    problem = monitor_problem(row, T0 + timedelta(minutes=21))
    assert problem is not None and problem.kind == "failed"
    assert problem.since == T0 + timedelta(minutes=20)
    # Failed stays failed (not late) until a good ping.
    assert monitor_state(row, T0 + timedelta(days=9)) is MonitorState.FAILED
    start = ping(row, PingKind.START, T0 + timedelta(minutes=30))
    assert start["state"] == "failed" and start["last_start_at"] == T0 + timedelta(minutes=30)
    assert start["next_expected_at"] == row["next_expected_at"]
    assert ping(start, PingKind.OK, T0 + timedelta(minutes=31))["state"] == "up"


def test_max_runtime_makes_a_started_run_late():
    row = monitor(max_runtime_seconds=600.0)
    row = ping(row, PingKind.OK, T0)
    row = ping(row, PingKind.START, T0 + timedelta(minutes=50))
    assert late_after(row) == T0 + timedelta(minutes=60)  # before 13:05, the grace's
    problem = monitor_problem(row, T0 + timedelta(minutes=60, seconds=1))
    assert problem is not None and problem.kind == "late"
    assert "started at 2026-03-01T12:50:00Z and did not finish within 10m" in problem.summary
    finished = ping(row, PingKind.OK, T0 + timedelta(minutes=61))
    assert monitor_problem(finished, T0 + timedelta(minutes=62)) is None


def test_pausing_clears_the_expectation_and_resuming_restarts_it():
    row = ping(monitor(), PingKind.FAIL, T0)
    paused = with_changes(row, spec_change(row, spec(enabled=False), T0))
    assert paused["state"] == "paused" and paused["next_expected_at"] is None
    assert monitor_problem(paused, T0 + timedelta(days=365)) is None
    pinged = ping(paused, PingKind.OK, T0 + timedelta(days=1))
    assert pinged["state"] == "paused" and pinged["last_ping_kind"] == "ok"
    later = T0 + timedelta(days=2)
    resumed = with_changes(pinged, spec_change(pinged, spec(enabled=True), later))
    assert resumed["state"] == "up" and resumed["next_expected_at"] == later + timedelta(hours=1)


def test_a_new_expectation_counts_from_the_last_ping():
    row = ping(monitor(), PingKind.OK, T0)
    assert spec_change(row, monitor_spec(row), T0) == {}
    changes = spec_change(row, spec(interval_seconds=60.0), T0 + timedelta(hours=2))
    assert changes["next_expected_at"] == T0 + timedelta(minutes=1)
    cron = spec_change(row, spec(interval_seconds=None, cron="0 0 * * *"), T0)
    assert cron["next_expected_at"] == datetime(2026, 3, 2, tzinfo=UTC)


def test_cron_expectations_in_a_dst_zone():
    nightly = spec(interval_seconds=None, cron="30 2 * * *", timezone="America/New_York")
    # Spring forward on 8 March 2026: 02:30 does not exist, the first instant after the gap.
    assert expected_after(nightly, datetime(2026, 3, 7, 12, tzinfo=UTC)) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    assert expected_after(nightly, datetime(2026, 3, 8, 12, tzinfo=UTC)) == datetime(
        2026, 3, 9, 6, 30, tzinfo=UTC
    )
    # Fall back on 1 November: 01:30 happens twice; expected at the first.
    early = spec(interval_seconds=None, cron="30 1 * * *", timezone="America/New_York")
    assert expected_after(early, datetime(2026, 11, 1, 0, tzinfo=UTC)) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    assert describe_expectation(nightly).endswith("(America/New_York), up to 5m late")


def test_bodies_and_audit_views():
    assert ping_body_text(b"") is None
    assert ping_body_text(b"ok\x00\xff") == "ok\ufffd\ufffd"
    row = monitor()
    assert "ping_token" not in audit_view({**monitor_spec(row), "ping_token": "s"})
    assert describe_expectation(spec(max_runtime_seconds=90.0, grace_seconds=0.0)) == (
        "every 1h after the last ping, on time; a started run may take 90s"
    )


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=0, max_value=10 * 86400)


@settings(max_examples=200, deadline=None)
@given(
    pinged=instants,
    interval=st.integers(min_value=1, max_value=86400),
    grace=st.integers(min_value=0, max_value=86400),
    after=offsets,
    kind=st.sampled_from([PingKind.OK, PingKind.FAIL]),
    paused=st.booleans(),
)
def test_late_exactly_when_past_expected_plus_grace(pinged, interval, grace, after, kind, paused):
    row = monitor(interval_seconds=float(interval), grace_seconds=float(grace))
    if paused:
        row = with_changes(row, spec_change(row, spec(enabled=False), pinged))
    row = ping(row, kind, pinged)
    now = pinged + timedelta(seconds=after)
    problem = monitor_problem(row, now)
    assert problem == monitor_problem(row, now)  # the same answer every time
    if paused:
        assert problem is None and monitor_state(row, now) is MonitorState.PAUSED
    elif kind is PingKind.FAIL:
        assert problem is not None and problem.kind == "failed" and problem.since == pinged
    elif after > interval + grace:
        assert problem is not None and problem.kind == "late"
        assert problem.since == pinged + timedelta(seconds=interval + grace)
    else:
        assert problem is None and monitor_state(row, now) is MonitorState.UP
