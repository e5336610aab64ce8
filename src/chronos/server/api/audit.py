"""/v1/audit: who changed what in the account, when, and why (newest first)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from chronos.server.api.deps import AccountId, Limit, RuntimeDep
from chronos.server.api.presenters import page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.audit import AuditRow
from chronos.server.domain.timing import iso
from chronos.server.schemas import Instant
from chronos.server.store.audit import AuditFilter

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=SafeRoute)

# Filter values are names and ids: printable, no spaces.
_TOKEN = r"^[A-Za-z0-9_.:\-]+$"
_NAME = r"^[^\x00-\x1f\x7f]+$"


def audit_out(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": iso(row["at"]),
        "actor": {"key_id": row["actor_key_id"], "name": row["actor"]},
        "action": row["action"],
        "resource": {
            "type": row["resource_type"],
            "id": row["resource_id"],
            "name": row["resource_name"],
        },
        "changes": row["changes"],
        "reason": row["reason"],
    }


@router.get("")
async def list_audit(
    account_id: AccountId,
    runtime: RuntimeDep,
    resource_type: Annotated[str | None, Query(max_length=20, pattern=_TOKEN)] = None,
    resource_id: Annotated[str | None, Query(max_length=200, pattern=_NAME)] = None,
    action: Annotated[str | None, Query(max_length=40, pattern=_TOKEN)] = None,
    actor_key_id: Annotated[str | None, Query(max_length=40, pattern=_TOKEN)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The account's audit records, newest first. ``resource_id`` matches an id or a name
    (a schedule's name finds it even after it was deleted); ``since``/``until`` are RFC 3339,
    the range ``[since, until)``. ``changes`` maps each changed field to ``[before, after]``;
    secret values (push headers, keys, URL passwords) show as ``"[redacted]"``."""
    where = AuditFilter(
        resource_type=resource_type,
        resource_id=resource_id,
        action=action,
        actor_key_id=actor_key_id,
        since=since,
        until=until,
    )
    rows, next_cursor = await runtime.audit.find(account_id, where, cursor=cursor, limit=limit)
    return page_out([audit_out(r) for r in rows], next_cursor)
