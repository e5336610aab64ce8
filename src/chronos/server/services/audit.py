"""The audit log, read: who changed what in an account, when and why, newest first.

Records are written by the services that make the changes (``domain/audit.py``: ``audit_row``;
``store/audit.py``: ``audit_insert``, in the change's own transaction) and pruned after
``CHRONOS_AUDIT_RETENTION`` by the pruner.

    audit = AuditService(db)
    rows, cursor = await audit.find(account_id, AuditFilter(resource_type="schedule"), limit=50)
"""

from __future__ import annotations

from datetime import UTC, datetime

from chronos.server.domain.audit import AuditRow
from chronos.server.errors import BadRequest
from chronos.server.store import audit as audit_store
from chronos.server.store.audit import AuditFilter
from chronos.server.store.db import Database

__all__ = ["AuditFilter", "AuditService"]


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(
        self, account_id: str, where: AuditFilter, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[AuditRow], str | None]:
        """One page of the account's records matching ``where``; ``since`` ≤ ``at`` <
        ``until``."""
        since, until = _utc(where.since), _utc(where.until)
        if since is not None and until is not None and since >= until:
            raise BadRequest("since must be before until", code="invalid_filter")
        where = AuditFilter(
            resource_type=where.resource_type,
            resource_id=where.resource_id,
            action=where.action,
            actor_key_id=where.actor_key_id,
            since=since,
            until=until,
        )
        async with self.db.read() as conn:
            return await audit_store.audit_list(conn, account_id, where, cursor=cursor, limit=limit)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
