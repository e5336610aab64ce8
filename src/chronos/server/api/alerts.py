"""/v1/alert-rules (create, list, read, change, delete — each audited) and /v1/alerts (the
alert history, newest first, and one alert with its notifications).

Thin: each route parses its input, calls one ``AlertService`` method and presents it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from chronos.server.api.deps import AccountId, ActorDep, Limit, RuntimeDep
from chronos.server.api.presenters import page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.alerts import (
    AlertRuleRow,
    AlertStatus,
    NotificationRow,
    alert_document,
)
from chronos.server.domain.timing import iso
from chronos.server.schemas import AlertRuleIn, Instant
from chronos.server.services.alerts import AlertFilter, normalize_alert_rule

router = APIRouter(tags=["alerts"], route_class=SafeRoute)

JSONBody = Annotated[dict[str, Any], Body()]
Ref = Annotated[str, Query(max_length=200)]


def rule_out(row: AlertRuleRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": row["enabled"],
        "condition": row["condition"],
        "selector": row["selector"],
        "grace": row["grace"],
        "cooldown": row["cooldown"],
        "webhook": row["webhook"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "evaluated_at": iso(row["evaluated_at"]) if row["evaluated_at"] else None,
    }


def notification_out(row: NotificationRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "status": row["status"],
        "url": row["target"]["url"],
        "format": row["target"]["format"],
        "attempts": row["attempts"],
        "http_status": row["http_status"],
        "last_error": row["last_error"],
        "created_at": iso(row["created_at"]),
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "sent_at": iso(row["sent_at"]) if row["sent_at"] else None,
    }


@router.post("/v1/alert-rules", status_code=201)
async def create_rule(
    body: AlertRuleIn, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A rule: ``condition`` (missed, late, consecutive_failures, success_rate, no_worker,
    monitor), ``selector`` (``tags`` and/or ``names``; none: the whole account), ``grace``,
    ``cooldown`` and an optional ``webhook`` ({url, headers, format: chronos|slack})."""
    spec = normalize_alert_rule(body)
    return rule_out(await runtime.alerts.create(account_id, spec, actor=actor))


@router.get("/v1/alert-rules")
async def list_rules(
    account_id: AccountId, runtime: RuntimeDep, cursor: str | None = None, limit: Limit = 50
) -> dict[str, Any]:
    rows, next_cursor = await runtime.alerts.rules(account_id, cursor=cursor, limit=limit)
    return page_out([rule_out(r) for r in rows], next_cursor)


@router.get("/v1/alert-rules/{rule}")
async def get_rule(rule: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """By id or by name."""
    return rule_out(await runtime.alerts.rule(account_id, rule))


@router.patch("/v1/alert-rules/{rule}")
async def patch_rule(
    rule: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep, data: JSONBody
) -> dict[str, Any]:
    """Top-level fields replace the rule's; the result is validated whole."""
    return rule_out(await runtime.alerts.patch(account_id, rule, data, actor=actor))


@router.delete("/v1/alert-rules/{rule}", status_code=204)
async def delete_rule(
    rule: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """Its open alerts resolve without a notification; the history stays."""
    await runtime.alerts.delete(account_id, rule, actor=actor)
    return Response(status_code=204)


@router.get("/v1/alerts")
async def list_alerts(
    account_id: AccountId,
    runtime: RuntimeDep,
    status: AlertStatus | None = None,
    rule_id: Ref | None = None,
    subject: Ref | None = None,
    since: Instant | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The alert history, newest first: ``status`` (pending, firing, resolved), ``rule_id``
    (the rule's id or name), ``subject`` (a schedule's, monitor's or handler's id or name),
    ``since`` (opened at or after, RFC 3339)."""
    where = AlertFilter(status=status, rule_id=rule_id, subject=subject, since=since)
    rows, next_cursor = await runtime.alerts.history(account_id, where, cursor=cursor, limit=limit)
    return page_out([alert_document(r) for r in rows], next_cursor)


@router.get("/v1/alerts/{alert_id}")
async def get_alert(alert_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """One alert with its notifications (each attempt's outcome)."""
    view = await runtime.alerts.alert(account_id, alert_id)
    return {
        **alert_document(view.alert),
        "notifications": [notification_out(n) for n in view.notifications],
    }
