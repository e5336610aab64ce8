"""Seed 003's jobs API: ``/api/jobs``, jobs addressed by id, webhook jobs only.

    POST /api/jobs {"name": "Daily Weather Report", "schedule": "0 8 * * *", "type": "WEBHOOK",
                    "payload": {"url": …, "method": "GET", "headers": {…}, "body": {…},
                                "params": {"q": "London"}}}

A seed 003 job is a Chronos push schedule: ``payload`` becomes its ``webhook`` (``params`` the
URL's query string, an object ``body`` its JSON text), then the schedule service does the rest.
Responses carry the seed's fields back, and the job's execution history inline.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Body, Query, Response

from chronos.server.api.compat.seed004 import schedule_text
from chronos.server.api.deps import AccountId, ActorDep, RuntimeDep
from chronos.server.api.presenters import page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.rows import JobRow, ScheduleRow
from chronos.server.domain.timing import iso
from chronos.server.errors import ValidationFailed
from chronos.server.services.schedules import MAX_RECENT_RUN_SCHEDULES, ScheduleFilter
from chronos.server.store.schedules import RecentRun

router = APIRouter(prefix="/api/jobs", tags=["compat: seed 003"], route_class=SafeRoute)

JSONBody = Annotated[dict[str, Any], Body()]
JOB_TYPE = "WEBHOOK"
PAYLOAD_KEYS = frozenset({"url", "method", "headers", "body", "params"})


def schedule_body(data: dict[str, Any]) -> dict[str, Any]:
    """A seed 003 job body (or part of one, for PUT) as a ``/v1`` schedule body."""
    unknown = set(data) - {"name", "schedule", "type", "payload", "enabled", "description"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if data.get("type", JOB_TYPE) != JOB_TYPE:
        raise ValidationFailed(
            f"type: only {JOB_TYPE!r} jobs exist here (got {data.get('type')!r})",
            details={"field": "type"},
        )
    out = {k: data[k] for k in ("name", "schedule", "enabled", "description") if k in data}
    if "payload" in data:
        out["webhook"] = _webhook(data["payload"])
    elif "type" in data and "name" in data:
        raise ValidationFailed(
            "payload: a WEBHOOK job needs payload.url", details={"field": "payload"}
        )
    return out


def _webhook(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("url"), str):
        raise ValidationFailed(
            "payload: a WEBHOOK job needs payload.url", details={"field": "payload"}
        )
    unknown = set(payload) - PAYLOAD_KEYS
    if unknown:
        raise ValidationFailed(f"payload: unknown field(s): {', '.join(sorted(unknown))}")
    url = payload["url"]
    params = payload.get("params")
    if params is not None:
        if not isinstance(params, dict):
            raise ValidationFailed("payload.params must be an object", details={"field": "params"})
        parts = urlsplit(url)
        query = urlencode([(str(k), _param(v)) for k, v in params.items()])
        url = urlunsplit(parts._replace(query="&".join(q for q in (parts.query, query) if q)))
    webhook: dict[str, Any] = {"url": url}
    for key in ("method", "headers"):
        if payload.get(key) is not None:
            webhook[key] = payload[key]
    body = payload.get("body")
    if body is not None:
        if isinstance(body, str):
            webhook["body"] = body
        else:
            webhook["body"] = json.dumps(body, separators=(",", ":"))
            headers = dict(webhook.get("headers") or {})
            if isinstance(headers, dict) and not any(
                isinstance(k, str) and k.lower() == "content-type" for k in headers
            ):
                headers["Content-Type"] = "application/json"
            webhook["headers"] = headers
    return webhook


def _param(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _payload_out(row: ScheduleRow) -> dict[str, Any] | None:
    delivery = row["spec"]["delivery"]
    http = delivery.get("http") if delivery["type"] == "push" else None
    if not http:
        return None
    parts = urlsplit(http["url"])
    body: Any = http.get("body")
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return {
        "url": urlunsplit(parts._replace(query="")),
        "method": http.get("method"),
        "headers": http.get("headers") or {},
        "body": body,
        "params": dict(parse_qsl(parts.query, keep_blank_values=True)),
    }


def job_out(row: ScheduleRow, history: list[RecentRun] | None = None) -> dict[str, Any]:
    spec = row["spec"]
    out: dict[str, Any] = {
        "id": row["id"],
        "name": spec["name"],
        "schedule": schedule_text(spec),
        "type": JOB_TYPE if spec["delivery"]["type"] == "push" else "PULL",
        "payload": _payload_out(row),
        "enabled": spec["enabled"],
        "state": row["state"],
        "next_run_at": iso(row["next_run_at"]),
        "last_run_at": iso(row["last_run_at"]),
        "last_status": row["last_status"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if history is not None:
        out["executions"] = [
            {"id": r["id"], "status": r["status"], "scheduled_for": iso(r["scheduled_for"])}
            for r in reversed(history)  # newest first
        ]
    return out


def run_out(row: JobRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "job_id": row["schedule_id"],
        "status": row["status"],
        "trigger": row["trigger"],
        "scheduled_for": iso(row["scheduled_for"]),
        "created_at": iso(row["created_at"]),
    }


@router.get("")
async def list_jobs(
    account_id: AccountId,
    runtime: RuntimeDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RECENT_RUN_SCHEDULES)] = 50,
) -> dict[str, Any]:
    """Every job with its execution history inline (its latest 30 runs, newest first)."""
    views, next_cursor = await runtime.schedules.find(
        account_id, ScheduleFilter(), cursor=cursor, limit=limit
    )
    runs = await runtime.schedules.recent_runs(account_id, [v.row["id"] for v in views])
    return page_out([job_out(v.row, runs[v.row["id"]]) for v in views], next_cursor)


@router.post("", status_code=201)
async def create_job(
    data: JSONBody, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    spec = runtime.schedules.parse(schedule_body(data))
    view = await runtime.schedules.create(account_id, spec, actor=actor)
    return job_out(view.row, [])


@router.get("/{job_id}")
async def get_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    view = await runtime.schedules.get(account_id, job_id)
    runs = await runtime.schedules.recent_runs(account_id, [view.row["id"]])
    return job_out(view.row, runs[view.row["id"]])


@router.put("/{job_id}")
async def update_job(
    job_id: str, data: JSONBody, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Change the fields given (``payload`` is replaced whole)."""
    view = await runtime.schedules.patch(account_id, job_id, schedule_body(data), actor=actor)
    return job_out(view.row)


@router.delete("/{job_id}", status_code=204)
async def delete_job(
    job_id: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    await runtime.schedules.delete(account_id, job_id, actor=actor)
    return Response(status_code=204)


@router.post("/{job_id}/run", status_code=201)
async def run_job(
    job_id: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Run now: a one-off job with ``trigger: "manual"`` (``POST /v1/schedules/{id}/trigger``)."""
    return run_out(await runtime.schedules.trigger(account_id, job_id, actor=actor))
