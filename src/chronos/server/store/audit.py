"""The audit log's rows: written in the transaction of the change they describe."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.audit import AuditRow
from chronos.server.store.tables import audit_events


async def audit_insert(conn: AsyncConnection, row: AuditRow) -> None:
    await conn.execute(sa.insert(audit_events).values(**row))
