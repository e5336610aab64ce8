"""Alerts: the evaluator, which turns rules into alerts, and the notifier, which delivers them.

:class:`AlertEvaluator` — each round takes the rules that are due (``next_eval_at``), each in
its own transaction with the rule's row locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several nodes share the rules and never evaluate one twice at once). A rule's condition reads
only what changed since it last looked (missed-slot events, fires, failing schedules — through
indexes, see ``store/alerts.py``) plus the subjects of its open alerts; ``domain.alerts.decide``
says what to change; alert changes and the notifications they cause are written together. The
unique index ``uq_alerts_open`` keeps one open alert per rule and subject whatever happens.

:class:`AlertNotifier` — the outbox's sender. It takes due notifications (an attempt each,
hidden for :data:`LEASE` meanwhile), POSTs them signed like push requests
(``X-Chronos-Signature``, the account's signing secrets), and records the outcome: sent, retried
with backoff (``domain.alerts.retry_delay``, at most ``MAX_ATTEMPTS``), or failed. A node that
dies between "alert fired" and "webhook sent" leaves the notification pending: it is sent by
the next round after the lease (at least once).

    evaluator = AlertEvaluator(db, clock, interval=10.0, on_notify=notifier.wakeup.set)
    await evaluator.run_once()     # EvaluationRound(rules=1, fired=1, ...)
    await notifier.run_once()      # NotifyRound(sent=1, ...)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.clock import Clock
from chronos.server.domain.alerts import (
    MAX_ATTEMPTS,
    AlertRow,
    AlertRuleRow,
    Assessment,
    ConditionType,
    Finding,
    NotificationRow,
    NotificationStatus,
    Subject,
    SubjectType,
    decide,
    new_notification,
    retry_delay,
    rule_interval,
    selects,
)
from chronos.server.domain.rows import ScheduleRow
from chronos.server.domain.states import ExecutionStatus, ScheduleEventKind, ScheduleState
from chronos.server.domain.thresholds import WORKER_ALIVE_SECONDS
from chronos.server.domain.timing import iso, parse_iso
from chronos.server.engine.http_client import PushClient
from chronos.server.engine.push import PushResult, cannot_send, make_request
from chronos.server.engine.service import Service
from chronos.server.store import alerts as alert_store
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import overview as overview_store
from chronos.server.store.db import Database
from chronos.server.store.signing import signing_secrets_for_accounts
from chronos.server.store.tables import schedules
from chronos.webhooks import SIGNATURE_HEADER, signature_header

log = logging.getLogger("chronos.alerts")

# Each look also reads this far before the last one: a scheduler transaction that began before
# the last look but committed after it is not missed (``decide`` ignores what it has seen).
LOOKBACK = timedelta(seconds=60)
# A schedule whose next fire is this far in the past is overdue (the scheduler is down or
# behind); the rule's grace then decides when that pages.
OVERDUE_AFTER = timedelta(seconds=10)
# Subjects one rule looks at per round, at most.
MAX_SUBJECTS = 500
# How long a notification being sent is hidden from other rounds and nodes.
LEASE = timedelta(seconds=60)
SEND_TIMEOUT_SECONDS = 10.0
SUCCESS = [(200, 299)]


@dataclass
class EvaluationRound:
    rules: int = 0
    opened: int = 0  # alerts created (pending or firing)
    fired: int = 0
    resolved: int = 0
    notifications: int = 0


@dataclass
class _Context:
    conn: AsyncConnection
    rule: AlertRuleRow
    now: datetime
    since: datetime  # read changes since then (the last look, less LOOKBACK)
    open: dict[tuple[str, str], AlertRow]

    @property
    def account_id(self) -> str:
        return self.rule["account_id"]

    @property
    def selector(self) -> dict[str, Any]:
        return dict(self.rule["selector"])

    def open_ids(self, subject_type: SubjectType) -> set[str]:
        return {sid for (kind, sid) in self.open if kind == subject_type}


class AlertEvaluator(Service):
    name = "alert-evaluator"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        interval: float = 10.0,
        batch_size: int = 100,
        on_notify: Callable[[], None] | None = None,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(clock)
        self.db = db
        self.interval = interval
        self.batch_size = batch_size
        self.on_notify = on_notify
        # ``on_change(account_id, topic)`` after a rule's alerts opened, fired or resolved
        # (committed): the dashboard's live pages refresh (``Notifier.changed``).
        self.on_change = on_change
        self.max_idle_seconds = max(1.0, min(interval, 10.0))

    async def run_once(self) -> EvaluationRound:
        now = self.clock.now()
        outcome = EvaluationRound()
        async with self.db.read() as conn:
            due = await alert_store.alert_rule_due_ids(conn, now, self.batch_size)
        for rule_id in due:
            try:
                changes = (outcome.opened, outcome.fired, outcome.resolved)
                async with self.db.transaction() as conn:
                    rule = await alert_store.alert_rule_lock_due(conn, rule_id, now)
                    if rule is None:
                        continue  # another node has it, or it changed
                    await self._evaluate(conn, rule, now, outcome)
                    await alert_store.alert_rule_update(
                        conn,
                        rule_id,
                        {
                            "evaluated_at": now,
                            "next_eval_at": now + rule_interval(rule, self.interval),
                        },
                    )
                outcome.rules += 1
                if self.on_change and changes != (outcome.opened, outcome.fired, outcome.resolved):
                    self.on_change(rule["account_id"], "alerts")
                    if rule["condition"]["type"] == ConditionType.MONITOR:
                        self.on_change(rule["account_id"], "monitors")
            except asyncio.CancelledError:
                raise
            except Exception:
                # One broken rule must not stop the others: look at it again next interval.
                log.exception("alert rule %s could not be evaluated", rule_id)
                async with self.db.transaction() as conn:
                    later = now + timedelta(seconds=self.interval)
                    await alert_store.alert_rule_update(conn, rule_id, {"next_eval_at": later})
        if outcome.notifications and self.on_notify is not None:
            self.on_notify()
        if due:
            async with self.db.read() as conn:
                metrics.ALERTS_FIRING.set(await alert_store.alerts_firing_count(conn))
        return outcome

    def has_more(self, result: EvaluationRound) -> bool:
        return result.rules >= self.batch_size

    async def next_deadline(self) -> datetime | None:
        async with self.db.read() as conn:
            return await alert_store.alert_rule_next_due_at(conn)

    async def _evaluate(
        self, conn: AsyncConnection, rule: AlertRuleRow, now: datetime, outcome: EvaluationRound
    ) -> None:
        watermark = rule["evaluated_at"] or rule["created_at"]
        open_alerts = await alert_store.alerts_open_for_rule(conn, rule["id"])
        by_key = {(a["subject_type"], a["subject_id"]): a for a in open_alerts}
        context = _Context(conn, rule, now, min(watermark, now) - LOOKBACK, by_key)
        kind = ConditionType(rule["condition"]["type"])
        assessment = await CONDITIONS[kind](context)
        if not assessment:
            return
        cooldown = timedelta(seconds=rule["cooldown"])
        recent: dict[tuple[str, str], AlertRow] = {}
        for resolved in await alert_store.alerts_resolved_since(
            conn, rule["id"], now - cooldown - 2 * LOOKBACK
        ):
            recent.setdefault((resolved["subject_type"], resolved["subject_id"]), resolved)
        for key, finding in assessment.items():
            current = by_key.get(key)
            plan = decide(
                rule,
                open_alert=current,
                recent=recent.get(key) if current is None else None,
                finding=finding,
                now=now,
            )
            if plan.empty:
                continue
            if plan.insert is not None:
                if not await alert_store.alert_insert(conn, plan.insert):
                    continue  # another node opened it first
                outcome.opened += 1
                alert: dict[str, Any] = dict(plan.insert)
            else:
                assert plan.alert_id is not None
                base = current or recent[key]
                await alert_store.alert_update(conn, plan.alert_id, plan.update)
                alert = {**dict(base), **plan.update}
            if plan.cancel_resolved:
                await alert_store.notification_cancel_resolved(conn, alert["id"])
            if plan.fired:
                outcome.fired += 1
                metrics.ALERTS_FIRED.labels(kind.value).inc()
            if plan.resolved:
                outcome.resolved += 1
            webhook = rule["webhook"]
            if webhook is None:
                continue
            for notify in plan.notify:
                snapshot = {**alert}
                if notify.event == "firing":  # the page says what was true when it fired
                    snapshot.update(status="firing", resolved_at=None)
                row = new_notification(snapshot, notify.event, webhook, notify.due_at, now)
                await alert_store.notification_insert(conn, row)
                outcome.notifications += 1


# --- conditions -------------------------------------------------------------------------------


def _schedule_subject(row: ScheduleRow) -> Subject:
    return Subject(SubjectType.SCHEDULE.value, row["id"], row["name"])


async def _schedules(
    context: _Context, ids: set[str], assessment: Assessment
) -> dict[str, ScheduleRow]:
    """The rule's schedules among ``ids``: enabled and picked by its selector. An open
    alert's schedule that no longer is (deleted, paused, disabled, not selected) is fine."""
    rows = await alert_store.schedules_by_ids(
        context.conn, context.account_id, list(ids)[:MAX_SUBJECTS]
    )
    chosen: dict[str, ScheduleRow] = {}
    for schedule_id in ids:
        row = rows.get(schedule_id)
        key = (SubjectType.SCHEDULE.value, schedule_id)
        usable = (
            row is not None
            and row["state"] == ScheduleState.ENABLED
            and selects(context.selector, row["name"], row["tags"])
        )
        if usable and row is not None:
            chosen[schedule_id] = row
        elif key in context.open:
            assessment[key] = None
    return chosen


async def _missed(context: _Context) -> Assessment:
    """Slots not fired: a ``missed`` event (the scheduler found slots it did not fire, under the
    misfire policy, because Chronos was down or behind) or a next fire overdue now. Holds from
    the first missed slot until the schedule fires a slot after them; resolves then."""
    conn, now = context.conn, context.now
    events = await overview_store.recent_events(
        conn, context.account_id, ScheduleEventKind.MISSED, context.since, limit=MAX_SUBJECTS
    )
    overdue_rows = await overview_store.schedules_where(
        conn,
        context.account_id,
        sa.and_(
            schedules.c.state == ScheduleState.ENABLED.value,
            schedules.c.next_run_at < now - OVERDUE_AFTER,
        ),
        limit=MAX_SUBJECTS,
    )
    by_schedule: dict[str, list[dict[str, Any]]] = {}
    for event, _name in events:
        by_schedule.setdefault(event["schedule_id"], []).append(dict(event))
    ids = set(by_schedule) | {r["id"] for r in overdue_rows}
    ids |= context.open_ids(SubjectType.SCHEDULE)
    assessment: Assessment = {}
    for schedule_id, row in (await _schedules(context, ids, assessment)).items():
        subject = _schedule_subject(row)
        current = context.open.get(subject.key)
        starts: list[datetime] = []
        ends: list[datetime] = []
        count = 0
        policy = row["spec"].get("misfire_policy")
        # The events are newest first. An earlier event belongs to the same episode only if
        # the schedule fired nothing between the two (else that episode ended already).
        for missed in by_schedule.get(schedule_id, []):
            details = missed["details"] or {}
            first = _instant(details.get("from") or details.get("first"))
            last = _instant(details.get("until") or details.get("last")) or missed["at"]
            if starts and first is not None:
                fired = await alert_store.schedule_fire_after(conn, schedule_id, last)
                if fired is not None and fired[0] < min(starts):
                    break
            if first is not None:
                starts.append(first)
            ends.append(last)
            count += int(details.get("count") or 1)
            policy = details.get("policy", policy)
        next_run_at = row["next_run_at"]
        overdue = next_run_at is not None and next_run_at < now - OVERDUE_AFTER
        if overdue and next_run_at is not None:
            starts.append(next_run_at)
        previous: dict[str, Any] = current["details"] if current else {}
        until = max(ends) if ends else _instant(previous.get("until"))
        if current is not None:
            since = current["since"]
            count = max(count, int(previous.get("missed_slots") or 0))
        elif starts:
            since = min(starts)
        else:
            continue
        found: dict[str, Any] = {"missed_slots": count, "from": iso(since), "policy": policy}
        if until is not None:
            found["until"] = iso(until)
        if overdue and next_run_at is not None:
            found["next_run_at"] = iso(next_run_at)
            summary = (
                f"{row['name']}: its fire due at {iso(next_run_at)} has not happened "
                "(is a scheduler running?)"
            )
            assessment[subject.key] = Finding(subject, since, summary, found)
            continue
        if until is None:
            assessment[subject.key] = None  # was overdue, and has fired since
            continue
        summary = (
            f"{row['name']}: {count} slot(s) missed from {iso(since)} to {iso(until)} "
            f"(Chronos was down or behind; misfire policy {policy!r})"
        )
        resumed = await alert_store.schedule_fire_after(conn, schedule_id, until)
        ended = resumed[1] if resumed is not None else None
        if ended is not None:
            found["resumed_at"] = iso(ended)
        assessment[subject.key] = Finding(subject, since, summary, found, ended_at=ended)
    return assessment


async def _late(context: _Context) -> Assessment:
    """A fire created more than ``seconds`` after its slot. Holds from the first late slot
    (+ seconds) until a fire is on time again."""
    threshold = float(context.rule["condition"].get("seconds", 0.0))
    late = await alert_store.late_fires_since(
        context.conn, context.account_id, context.since, late_after=threshold, limit=MAX_SUBJECTS
    )
    ids = set(late) | context.open_ids(SubjectType.SCHEDULE)
    assessment: Assessment = {}
    for schedule_id, row in (await _schedules(context, ids, assessment)).items():
        subject = _schedule_subject(row)
        current = context.open.get(subject.key)
        latest = await alert_store.schedule_latest_fire(context.conn, schedule_id)
        first_late = late.get(schedule_id)
        if latest is None or (current is None and first_late is None):
            if current is not None:
                assessment[subject.key] = None
            continue
        slot, created = latest
        lag = (created - slot).total_seconds()
        if current is not None:
            since = current["since"]
        else:
            assert first_late is not None
            since = first_late + timedelta(seconds=threshold)
        details = {"slot": iso(slot), "lag_seconds": round(lag, 3), "threshold": threshold}
        if lag > threshold:
            summary = (
                f"{row['name']}: the slot {iso(slot)} fired {lag:.0f}s late "
                f"(more than {threshold:g}s)"
            )
            assessment[subject.key] = Finding(subject, since, summary, details)
        else:
            summary = f"{row['name']}: fires were more than {threshold:g}s late"
            assessment[subject.key] = Finding(subject, since, summary, details, ended_at=created)
    return assessment


async def _consecutive_failures(context: _Context) -> Assessment:
    """The schedule's last ``count`` finished runs all failed; resolves at a success."""
    count = int(context.rule["condition"].get("count", 3))
    failing = await alert_store.schedules_failing(
        context.conn, context.account_id, limit=MAX_SUBJECTS
    )
    ids = set(failing) | context.open_ids(SubjectType.SCHEDULE)
    assessment: Assessment = {}
    chosen = await _schedules(context, ids, assessment)
    last_runs = await alert_store.schedules_last_runs(context.conn, sorted(chosen), count)
    for schedule_id, row in chosen.items():
        subject = _schedule_subject(row)
        current = context.open.get(subject.key)
        runs = last_runs.get(schedule_id, [])
        if len(runs) == count and all(status == "failed" for status, _ in runs):
            since = current["since"] if current else (runs[0][1] or context.now)
            summary = f"{row['name']}: the last {count} runs failed"
            assessment[subject.key] = Finding(
                subject, since, summary, {"count": count, "last_failed_at": iso(runs[0][1])}
            )
        elif current is not None:
            assessment[subject.key] = None
    return assessment


async def _success_rate(context: _Context) -> Assessment:
    """Completed / finished runs over ``window`` below ``below`` (with at least
    ``min_runs`` finished); resolves when the rate is back at or above it."""
    condition = context.rule["condition"]
    below, window = float(condition["below"]), float(condition["window"])
    min_runs = int(condition.get("min_runs", 1))
    counts = await alert_store.finished_by_schedule(
        context.conn,
        context.account_id,
        context.now - timedelta(seconds=window),
        limit=MAX_SUBJECTS,
    )
    ids = set(counts) | context.open_ids(SubjectType.SCHEDULE)
    assessment: Assessment = {}
    for schedule_id, row in (await _schedules(context, ids, assessment)).items():
        subject = _schedule_subject(row)
        current = context.open.get(subject.key)
        completed, failed = counts.get(schedule_id, (0, 0))
        total = completed + failed
        rate = completed / total if total else 1.0
        if total >= min_runs and rate < below:
            summary = (
                f"{row['name']}: {rate:.0%} of {total} runs succeeded in the last "
                f"{_span(window)} (below {below:.0%})"
            )
            details = {"success_rate": round(rate, 4), "completed": completed, "failed": failed}
            since = current["since"] if current else context.now
            assessment[subject.key] = Finding(subject, since, summary, details)
        elif current is not None:
            assessment[subject.key] = None
    return assessment


async def _no_worker(context: _Context) -> Assessment:
    """Pull jobs ready for longer than ``seconds`` and no worker polling their handler (seen
    in the last minute); resolves when a worker polls it or nothing waits that long."""
    conn, now = context.conn, context.now
    threshold = timedelta(seconds=float(context.rule["condition"].get("seconds", 0.0)))
    ready = await overview_store.ready_by_handler(conn, context.account_id, now, limit=MAX_SUBJECTS)
    workers = await dashboard_store.worker_list(
        conn, context.account_id, seen_since=now - timedelta(seconds=WORKER_ALIVE_SECONDS)
    )
    served = {handler for worker in workers for handler in worker["handlers"]}
    assessment: Assessment = {}
    for handler, count, oldest in ready:
        if handler is None or not selects(context.selector, handler, None):
            continue
        if handler in served or oldest > now - threshold:
            continue
        subject = Subject(SubjectType.HANDLER.value, handler, handler)
        current = context.open.get(subject.key)
        since = current["since"] if current else oldest + threshold
        summary = (
            f"{count} job(s) for {handler} waiting since {iso(oldest)} and no worker polling it"
        )
        assessment[subject.key] = Finding(
            subject, since, summary, {"waiting": count, "oldest_run_at": iso(oldest)}
        )
    for key in context.open:
        assessment.setdefault(key, None)
    return assessment


async def _monitor(context: _Context) -> Assessment:
    """A heartbeat monitor late or failed (``domain.monitors.monitor_problem``); resolves when
    it pings again."""
    from chronos.server.domain.monitors import monitor_problem
    from chronos.server.store.monitors import monitor_list_all

    assessment: Assessment = {}
    for row in await monitor_list_all(context.conn, context.account_id):
        subject = Subject(SubjectType.MONITOR.value, row["id"], row["name"])
        if not selects(context.selector, row["name"], row["tags"]):
            continue
        problem = monitor_problem(row, context.now)
        if problem is None:
            if subject.key in context.open:
                assessment[subject.key] = None
            continue
        current = context.open.get(subject.key)
        since = current["since"] if current else problem.since
        assessment[subject.key] = Finding(subject, since, problem.summary, {"kind": problem.kind})
    for key in context.open:
        assessment.setdefault(key, None)  # deleted, or no longer selected
    return assessment


CONDITIONS: dict[ConditionType, Callable[[_Context], Awaitable[Assessment]]] = {
    ConditionType.MISSED: _missed,
    ConditionType.LATE: _late,
    ConditionType.CONSECUTIVE_FAILURES: _consecutive_failures,
    ConditionType.SUCCESS_RATE: _success_rate,
    ConditionType.NO_WORKER: _no_worker,
    ConditionType.MONITOR: _monitor,
}


def _instant(value: Any) -> datetime | None:
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


# --- the notifier -----------------------------------------------------------------------------


@dataclass
class NotifyRound:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed


class AlertNotifier(Service):
    name = "alert-notifier"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        block_private: bool = False,
        batch_size: int = 50,
        client: PushClient | None = None,
    ) -> None:
        super().__init__(clock)
        self.db = db
        self.batch_size = batch_size
        # The dispatcher's HTTP client (its own pool): the same address rules and outcomes.
        self.client = client or PushClient(block_private=block_private, max_connections=10)
        self.max_idle_seconds = 5.0

    async def close(self) -> None:
        await self.client.aclose()

    async def run_once(self) -> NotifyRound:
        now = self.clock.now()
        outcome = NotifyRound()
        async with self.db.transaction() as conn:
            batch = await alert_store.notification_claim_due(
                conn, now, lease_until=now + LEASE, limit=self.batch_size
            )
            if not batch:
                return outcome
            secrets = await signing_secrets_for_accounts(conn, {n["account_id"] for n in batch})
        results = await asyncio.gather(
            *(self._send(n, secrets.get(n["account_id"], []), now) for n in batch)
        )
        done = self.clock.now()
        async with self.db.transaction() as conn:
            for notification, result in zip(batch, results, strict=True):
                values = _outcome(notification, result, done)
                await alert_store.notification_record(conn, notification["id"], values)
                status = values.get("status", "retry")
                metrics.ALERT_NOTIFICATIONS.labels(status).inc()
                if status == NotificationStatus.SENT:
                    outcome.sent += 1
                elif status == NotificationStatus.FAILED:
                    outcome.failed += 1
                else:
                    outcome.retried += 1
        return outcome

    def has_more(self, result: NotifyRound) -> bool:
        return result.attempted >= self.batch_size

    async def next_deadline(self) -> datetime | None:
        async with self.db.read() as conn:
            return await alert_store.notification_next_due_at(conn)

    async def _send(
        self, notification: NotificationRow, secrets: list[str], now: datetime
    ) -> PushResult:
        target = notification["target"]
        body = json.dumps(notification["payload"], separators=(",", ":")).encode()
        chronos_headers = {
            SIGNATURE_HEADER: signature_header(secrets, int(now.timestamp()), body),
            "X-Chronos-Alert-Id": notification["alert_id"],
            "X-Chronos-Notification-Id": notification["id"],
            "X-Chronos-Event": notification["event"],
            "User-Agent": "Chronos-Alerts/1",
        }
        try:
            request = make_request(
                "POST",
                target["url"],
                {**target.get("headers", {}), "Content-Type": "application/json"},
                body,
                chronos_headers,
            )
        except Exception as exc:
            return cannot_send(exc)
        result, _ms = await self.client.send(
            request,
            timeout_seconds=SEND_TIMEOUT_SECONDS,
            success_codes=SUCCESS,
            now=now,
        )
        return result


def _outcome(notification: NotificationRow, result: PushResult, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"http_status": result.http_status}
    if result.status == ExecutionStatus.COMPLETED:
        values.update(status=NotificationStatus.SENT.value, sent_at=now, last_error=None)
        return values
    error = (result.error or {}).get("message") or "delivery failed"
    values["last_error"] = str(error)[:1000]
    if result.retryable and notification["attempts"] < MAX_ATTEMPTS:
        delay = retry_delay(notification["attempts"])
        if result.retry_after is not None:
            delay = max(delay, timedelta(seconds=result.retry_after))
        values.update(next_attempt_at=now + delay)
    else:
        values.update(status=NotificationStatus.FAILED.value)
    return values
