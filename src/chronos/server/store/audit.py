"""The audit log's rows: written in the transaction of the change they describe, listed newest
first with filters, and pruned past the retention age in bounded batches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.audit import Actor, AuditRow, audit_row
from chronos.server.store.dialect import skip_locked
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import audit_events


async def audit_insert(conn: AsyncConnection, row: AuditRow) -> None:
    await conn.execute(sa.insert(audit_events).values(**row))


async def audit_change(
    conn: AsyncConnection,
    resource_type: str,
    row: Mapping[str, Any],
    verb: str,
    now: datetime,
    actor: Actor | None,
    *,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str | None = None,
) -> None:
    """Record ``<resource_type>.<verb>`` about ``row`` (its account, id and name), in the
    caller's transaction — the change's own."""
    await audit_insert(
        conn,
        audit_row(
            row["account_id"],
            actor,
            f"{resource_type}.{verb}",
            resource_type,
            row["id"],
            row["name"],
            before=before,
            after=after,
            at=now,
            reason=reason,
        ),
    )


@dataclass(frozen=True)
class AuditFilter:
    """``resource_id`` matches a resource's id or its name at the time (a schedule's name
    still finds the records of a deleted schedule of that name)."""

    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    actor_key_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def audit_list(
    conn: AsyncConnection,
    account_id: str,
    where: AuditFilter,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditRow], str | None]:
    """An account's audit records, newest first (ids sort by time), one page."""
    query = sa.select(audit_events).where(audit_events.c.account_id == account_id)
    if where.resource_type:
        query = query.where(audit_events.c.resource_type == where.resource_type)
    if where.resource_id:
        query = query.where(
            sa.or_(
                audit_events.c.resource_id == where.resource_id,
                audit_events.c.resource_name == where.resource_id,
            )
        )
    if where.action:
        query = query.where(audit_events.c.action == where.action)
    if where.actor_key_id:
        query = query.where(audit_events.c.actor_key_id == where.actor_key_id)
    if where.since is not None:
        query = query.where(audit_events.c.at >= where.since)
    if where.until is not None:
        query = query.where(audit_events.c.at < where.until)
    rows = await conn.execute(page(query, audit_events.c.id, cursor, limit))
    return split_page([cast(AuditRow, dict(r._mapping)) for r in rows], limit)


async def audit_delete_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` records older than ``cutoff``, oldest first; how many went."""
    batch = skip_locked(
        conn,
        sa.select(audit_events.c.id)
        .where(audit_events.c.at < cutoff)
        .order_by(audit_events.c.at)
        .limit(limit),
    ).scalar_subquery()
    result = await conn.execute(sa.delete(audit_events).where(audit_events.c.id.in_(batch)))
    return result.rowcount
