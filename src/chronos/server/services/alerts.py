"""Alert rules (create, read, change, delete — each audited) and the alert history.

A rule is addressed by id or by name. Deleting a rule resolves its open alerts without a
notification and withdraws its unsent ones; the alerts themselves stay in the history. Each
committed change tells the dashboard's live pages (topic ``alerts``).

    alerts = AlertService(db, clock)
    rule = await alerts.create(account_id, normalize_alert_rule(AlertRuleIn(...)), actor=actor)
    page, cursor = await alerts.history(account_id, AlertFilter(status="firing"), ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import Clock
from chronos.server.domain.alerts import (
    DEFAULT_COOLDOWN_SECONDS,
    DEFAULT_GRACE_SECONDS,
    MAX_COOLDOWN_SECONDS,
    MAX_GRACE_SECONDS,
    AlertRow,
    AlertRuleRow,
    AlertRuleSpec,
    AlertStatus,
    Condition,
    ConditionType,
    NotificationRow,
    Selector,
    Webhook,
    rule_document,
)
from chronos.server.domain.audit import Actor
from chronos.server.errors import NameConflict, NotFound, ValidationFailed
from chronos.server.ids import new_id
from chronos.server.normalize import check_name, check_outbound_target
from chronos.server.notifier import Notifier
from chronos.server.schemas import AlertConditionIn, AlertRuleIn, AlertWebhookIn, validation_details
from chronos.server.store import alerts as alert_store
from chronos.server.store.audit import audit_change
from chronos.server.store.db import Database
from chronos.server.store.errors import UniqueViolation

MIN_WINDOW_SECONDS = 60.0
MAX_WINDOW_SECONDS = 7 * 86_400.0
DEFAULT_WINDOW_SECONDS = 3600.0
DEFAULT_MIN_RUNS = 5
DEFAULT_FAILURE_COUNT = 3
DEFAULT_NO_WORKER_SECONDS = 300.0
MAX_CONDITION_SECONDS = 7 * 86_400.0
_PARAMS = ("seconds", "count", "below", "window", "min_runs")
_ALLOWED: dict[ConditionType, frozenset[str]] = {
    ConditionType.MISSED: frozenset(),
    ConditionType.LATE: frozenset({"seconds"}),
    ConditionType.CONSECUTIVE_FAILURES: frozenset({"count"}),
    ConditionType.SUCCESS_RATE: frozenset({"below", "window", "min_runs"}),
    ConditionType.NO_WORKER: frozenset({"seconds"}),
    ConditionType.MONITOR: frozenset(),
}


# --- input ------------------------------------------------------------------------------------


def parse_alert_rule(data: Any) -> AlertRuleSpec:
    """A request body (a dict) → a normalised rule, or a 422."""
    try:
        body = AlertRuleIn.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        where = ".".join(details[0]["loc"]) if details else "body"
        message = details[0]["message"] if details else "invalid alert rule"
        raise ValidationFailed(f"{where}: {message}", details=details) from exc
    return normalize_alert_rule(body)


def normalize_alert_rule(body: AlertRuleIn) -> AlertRuleSpec:
    check_name(body.name, "alert rule", "arl")  # it addresses the rule in URLs
    condition = _condition(body.condition)
    kind = ConditionType(condition["type"])
    selector: Selector = {}
    if body.selector is not None:
        if body.selector.tags:
            if kind == ConditionType.NO_WORKER:
                raise ValidationFailed(
                    "selector.tags: a no_worker rule selects handlers by names only",
                    details={"field": "selector.tags"},
                )
            selector["tags"] = dict(body.selector.tags)
        if body.selector.names:
            selector["names"] = sorted(set(body.selector.names))
    grace = DEFAULT_GRACE_SECONDS[kind] if body.grace is None else body.grace
    if grace > MAX_GRACE_SECONDS:
        raise ValidationFailed("grace: at most 1 day", details={"field": "grace"})
    cooldown = DEFAULT_COOLDOWN_SECONDS if body.cooldown is None else body.cooldown
    if cooldown > MAX_COOLDOWN_SECONDS:
        raise ValidationFailed("cooldown: at most 7 days", details={"field": "cooldown"})
    return {
        "name": body.name,
        "description": body.description,
        "enabled": body.enabled,
        "condition": condition,
        "selector": selector,
        "grace": grace,
        "cooldown": cooldown,
        "webhook": _webhook(body.webhook) if body.webhook is not None else None,
    }


def _condition(given: AlertConditionIn) -> Condition:
    kind = ConditionType(given.type)
    extra = [name for name in _PARAMS if getattr(given, name) is not None]
    refused = sorted(set(extra) - _ALLOWED[kind])
    if refused:
        allowed = ", ".join(sorted(_ALLOWED[kind])) or "none"
        raise ValidationFailed(
            f"condition {kind.value!r} does not take {', '.join(refused)} (it takes: {allowed})",
            details={"field": "condition"},
        )
    condition: Condition = {"type": kind.value}
    if kind == ConditionType.LATE:
        if given.seconds is None or given.seconds <= 0:
            raise ValidationFailed(
                "condition late needs seconds > 0 (a fire later than this pages)",
                details={"field": "condition.seconds"},
            )
        condition["seconds"] = _bounded("condition.seconds", given.seconds)
    elif kind == ConditionType.NO_WORKER:
        seconds = DEFAULT_NO_WORKER_SECONDS if given.seconds is None else given.seconds
        condition["seconds"] = _bounded("condition.seconds", seconds)
    elif kind == ConditionType.CONSECUTIVE_FAILURES:
        condition["count"] = given.count or DEFAULT_FAILURE_COUNT
    elif kind == ConditionType.SUCCESS_RATE:
        if given.below is None:
            raise ValidationFailed(
                "condition success_rate needs below (a fraction, e.g. 0.9)",
                details={"field": "condition.below"},
            )
        window = DEFAULT_WINDOW_SECONDS if given.window is None else given.window
        if not MIN_WINDOW_SECONDS <= window <= MAX_WINDOW_SECONDS:
            raise ValidationFailed(
                "condition.window: from 1 minute to 7 days", details={"field": "condition.window"}
            )
        condition["below"] = given.below
        condition["window"] = window
        condition["min_runs"] = given.min_runs or DEFAULT_MIN_RUNS
    return condition


def _bounded(field: str, seconds: float) -> float:
    if seconds > MAX_CONDITION_SECONDS:
        raise ValidationFailed(f"{field}: at most 7 days", details={"field": field})
    return seconds


def _webhook(given: AlertWebhookIn) -> Webhook:
    """The push target rules (``normalize.check_outbound_target``), for a POST."""
    headers = dict(given.headers)
    check_outbound_target("POST", given.url, headers, label="webhook.url", prefix="webhook.")
    return {"url": given.url, "headers": headers, "format": given.format}


def merge_patch(spec: AlertRuleSpec, patch: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body over a rule's configuration: top-level fields replace theirs (``null``
    clears an optional one)."""
    base: dict[str, Any] = {**rule_document(spec)}
    base.update(patch)
    return {k: v for k, v in base.items() if v is not None or k in ("description", "webhook")}


# --- the service ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilter:
    status: AlertStatus | None = None
    rule_id: str | None = None
    subject: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class AlertView:
    alert: AlertRow
    notifications: list[NotificationRow]


class AlertService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier | None = None) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier

    def _changed(self, account_id: str) -> None:
        """After a commit: the dashboard's alerts page refreshes (SSE topic ``alerts``)."""
        if self.notifier is not None:
            self.notifier.changed(account_id, "alerts")

    async def create(
        self, account_id: str, spec: AlertRuleSpec, *, actor: Actor | None = None
    ) -> AlertRuleRow:
        """A new rule, first evaluated at once; a taken name is a conflict (409)."""
        now = self.clock.now()
        row: AlertRuleRow = {
            **spec,
            "id": new_id("arl"),
            "account_id": account_id,
            "created_at": now,
            "updated_at": now,
            "evaluated_at": None,
            "next_eval_at": now,
        }
        async with self.db.transaction() as conn:
            try:
                await alert_store.alert_rule_insert(conn, row)
            except UniqueViolation as exc:
                raise _taken(spec["name"]) from exc
            await _audit(conn, row, "created", now, actor, before=None, after=rule_document(row))
        self._changed(account_id)
        return row

    async def rules(
        self, account_id: str, *, cursor: str | None, limit: int
    ) -> tuple[list[AlertRuleRow], str | None]:
        async with self.db.read() as conn:
            return await alert_store.alert_rule_list(conn, account_id, cursor=cursor, limit=limit)

    async def rule(self, account_id: str, ref: str) -> AlertRuleRow:
        async with self.db.read() as conn:
            return await _load(conn, account_id, ref)

    async def patch(
        self, account_id: str, ref: str, patch: dict[str, Any], *, actor: Actor | None = None
    ) -> AlertRuleRow:
        """Change some fields; the result is validated whole. A changed rule is evaluated
        again at once."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await _load(conn, account_id, ref, for_update=True)
            spec = parse_alert_rule(merge_patch(row, patch))
            before = rule_document(row)
            if rule_document(spec) != before:
                changes: dict[str, Any] = {**spec, "updated_at": now, "next_eval_at": now}
                try:
                    await alert_store.alert_rule_update(conn, row["id"], changes)
                except UniqueViolation as exc:
                    raise _taken(spec["name"]) from exc
                row = {**row, **changes}  # type: ignore[typeddict-item]
                await _audit(
                    conn, row, "updated", now, actor, before=before, after=rule_document(row)
                )
        self._changed(account_id)
        return row

    async def delete(self, account_id: str, ref: str, *, actor: Actor | None = None) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await _load(conn, account_id, ref, for_update=True)
            await alert_store.alerts_close_for_rule(conn, row["id"], now)
            await alert_store.alert_rule_delete(conn, row["id"])
            await _audit(conn, row, "deleted", now, actor, before=rule_document(row), after=None)
        self._changed(account_id)

    async def history(
        self, account_id: str, where: AlertFilter, *, cursor: str | None, limit: int
    ) -> tuple[list[AlertRow], str | None]:
        async with self.db.read() as conn:
            return await alert_store.alert_list(
                conn,
                account_id,
                status=where.status.value if where.status else None,
                rule=where.rule_id,
                subject=where.subject,
                since=where.since,
                cursor=cursor,
                limit=limit,
            )

    async def alert(self, account_id: str, alert_id: str) -> AlertView:
        async with self.db.read() as conn:
            alert = await alert_store.alert_get(conn, account_id, alert_id)
            if alert is None:
                raise NotFound(f"alert {alert_id!r} not found")
            sent = await alert_store.notifications_for_alerts(conn, [alert_id])
        return AlertView(alert, sent.get(alert_id, []))


def _taken(name: str) -> NameConflict:
    return NameConflict(f"an alert rule named {name!r} already exists", details={"name": name})


async def _load(
    conn: AsyncConnection, account_id: str, ref: str, *, for_update: bool = False
) -> AlertRuleRow:
    row = await alert_store.alert_rule_get(conn, account_id, ref, for_update=for_update)
    if row is None:
        raise NotFound(f"alert rule {ref!r} not found")
    return row


async def _audit(
    conn: AsyncConnection,
    row: AlertRuleRow,
    verb: str,
    now: datetime,
    actor: Actor | None,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await audit_change(conn, "alert_rule", row, verb, now, actor, before=before, after=after)
