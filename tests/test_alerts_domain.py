"""The pure part of alerting: ``domain.alerts.decide`` (grace, one open alert, re-opening in the
cooldown, conditions seen only after they ended), selectors, payloads and the retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chronos.server.domain.alerts import (
    AlertRow,
    AlertRuleRow,
    Finding,
    Plan,
    Subject,
    decide,
    notification_payload,
    retry_delay,
    rule_interval,
    selects,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SUBJECT = Subject("schedule", "sch_1", "nightly")


def rule(grace: float = 60.0, cooldown: float = 300.0, kind: str = "missed") -> AlertRuleRow:
    return {
        "id": "arl_1",
        "account_id": "acc_1",
        "name": "r",
        "description": None,
        "enabled": True,
        "condition": {"type": kind},
        "selector": {},
        "grace": grace,
        "cooldown": cooldown,
        "webhook": None,
        "created_at": T0,
        "updated_at": T0,
        "evaluated_at": None,
        "next_eval_at": T0,
    }


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def finding(since: float, ended: float | None = None) -> Finding:
    return Finding(SUBJECT, at(since), "nightly: missed", {}, None if ended is None else at(ended))


def apply(alert: AlertRow | None, plan: Plan) -> AlertRow | None:
    if plan.insert is not None:
        return plan.insert
    if alert is None or not plan.update:
        return alert
    return {**alert, **plan.update}  # type: ignore[typeddict-item]


def test_a_condition_pages_only_after_holding_for_the_grace():
    plan = decide(rule(), open_alert=None, recent=None, finding=finding(0), now=at(30))
    assert plan.insert is not None and plan.insert["status"] == "pending" and not plan.notify
    pending = plan.insert
    plan = decide(rule(), open_alert=pending, recent=None, finding=finding(0), now=at(59))
    assert not plan.notify and "status" not in plan.update
    plan = decide(rule(), open_alert=pending, recent=None, finding=finding(0), now=at(60))
    assert plan.update["status"] == "firing" and [n.event for n in plan.notify] == ["firing"]


def test_a_pending_alert_whose_condition_ends_resolves_without_a_page():
    pending = decide(rule(), open_alert=None, recent=None, finding=finding(0), now=at(10)).insert
    plan = decide(rule(), open_alert=pending, recent=None, finding=None, now=at(20))
    assert plan.update["status"] == "resolved" and plan.notify == []


def test_a_firing_alert_resolves_and_says_so_after_the_cooldown():
    firing = decide(rule(grace=0), open_alert=None, recent=None, finding=finding(0), now=at(1))
    assert firing.insert is not None and firing.insert["status"] == "firing"
    plan = decide(rule(grace=0), open_alert=firing.insert, recent=None, finding=None, now=at(100))
    assert plan.update["status"] == "resolved" and plan.update["resolved_at"] == at(100)
    [resolved] = plan.notify
    assert resolved.event == "resolved" and resolved.due_at == at(400)


def test_a_condition_seen_after_it_ended_pages_if_it_lasted_the_grace():
    plan = decide(rule(), open_alert=None, recent=None, finding=finding(0, ended=90), now=at(100))
    assert plan.insert is not None and plan.insert["status"] == "resolved"
    assert plan.insert["fired_at"] == at(100) and plan.insert["resolved_at"] == at(90)
    assert [n.event for n in plan.notify] == ["firing", "resolved"]
    short = decide(rule(), open_alert=None, recent=None, finding=finding(0, ended=30), now=at(40))
    assert short.empty


def test_an_episode_already_resolved_is_not_counted_again():
    alert = decide(rule(grace=0), open_alert=None, recent=None, finding=finding(0), now=at(1))
    resolved = apply(
        alert.insert,
        decide(rule(grace=0), open_alert=alert.insert, recent=None, finding=None, now=at(50)),
    )
    assert resolved is not None
    again = decide(
        rule(grace=0), open_alert=None, recent=resolved, finding=finding(0, 40), now=at(60)
    )
    assert again.empty


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 120)), min_size=1, max_size=30))
def test_flapping_within_the_cooldown_pages_once(steps: list[tuple[bool, int]]):
    """Whatever the sequence of holds and clears, if no quiet period is as long as the
    cooldown, there is one alert and at most one ``firing`` notification."""
    r = rule(grace=0, cooldown=600)
    now, open_alert, recent = at(0), None, None
    ids: set[str] = set()
    pages = 0
    holding_since: datetime | None = None
    quiet_since: datetime | None = None
    longest_quiet = timedelta(0)
    for holds, step in steps:
        now += timedelta(seconds=step)
        if holds and holding_since is None:
            holding_since = now
            if quiet_since is not None:
                longest_quiet = max(longest_quiet, now - quiet_since)
            quiet_since = None
        if not holds:
            holding_since = None
            quiet_since = quiet_since or now
        found = Finding(SUBJECT, holding_since, "x") if holding_since is not None else None
        plan = decide(
            r,
            open_alert=open_alert,
            recent=recent if open_alert is None else None,
            finding=found,
            now=now,
        )
        pages += sum(n.event == "firing" for n in plan.notify)
        current: dict[str, Any] | None = None
        if plan.insert is not None:
            current = dict(plan.insert)
        elif plan.update:
            base = open_alert if open_alert is not None else recent
            assert base is not None
            current = {**base, **plan.update}
        if current is not None:
            ids.add(current["id"])
            if current["status"] == "resolved":
                open_alert, recent = None, current  # type: ignore[assignment]
            else:
                open_alert = current  # type: ignore[assignment]
    assume(longest_quiet < timedelta(seconds=600))
    assert pages <= 1 and len(ids) <= 1


def test_selectors():
    assert selects({}, "any", None)
    assert selects({"tags": {"team": "data"}}, "etl", {"team": "data", "x": "y"})
    assert not selects({"tags": {"team": "data"}}, "etl", {"team": "web"})
    assert not selects({"tags": {"team": "data"}}, "etl", None)
    assert selects({"names": ["a", "b"]}, "b", {})
    assert not selects({"names": ["a"], "tags": {"t": "1"}}, "a", {"t": "2"})


def test_payloads_and_backoff():
    alert = decide(
        rule(grace=0), open_alert=None, recent=None, finding=finding(0), now=at(1)
    ).insert
    assert alert is not None
    slack = notification_payload("firing", alert, "slack")
    assert slack == {"text": ":rotating_light: [FIRING] r: nightly: missed"}
    chronos = notification_payload("firing", alert, "chronos")
    assert chronos["event"] == "firing" and chronos["alert"]["subject"]["name"] == "nightly"
    assert chronos["alert"]["since"] == "2026-03-01T12:00:00Z"
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 12)] == [10, 20, 40, 3600]
    assert rule_interval(rule(kind="success_rate"), 10) == timedelta(seconds=60)
    assert rule_interval(rule(), 10) == timedelta(seconds=10)
