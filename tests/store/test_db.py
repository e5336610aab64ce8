"""The connection pool: a connection cut while idle is replaced before use, without a ping
on every transaction of the hot paths."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from chronos.server.store import db as db_module
from chronos.server.store.db import Database
from chronos.server.store.errors import is_database_outage


async def _cut(url: str, pid: int) -> bool:
    """Terminate one session, as a database restart or a proxy would."""
    admin = await asyncpg.connect(url)
    try:
        return bool(await admin.fetchval("SELECT pg_terminate_backend($1)", pid))
    finally:
        await admin.close()


async def _backend_pid(db: Database) -> int:
    async with db.transaction() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_cut_while_idle_is_pinged_and_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    db = Database.from_url(postgres_url, pool_size=1)
    try:
        pid = await _backend_pid(db)
        assert await _cut(postgres_url, pid)
        assert await _backend_pid(db) != pid  # the ping found it dead; a new one was used
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No connection counts as idle: the cut goes unnoticed until the next statement fails,
    # which proves no ping ran; the pool then recycles it and the next transaction works.
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 3600.0)
    db = Database.from_url(postgres_url, pool_size=1)
    try:
        pid = await _backend_pid(db)
        assert await _cut(postgres_url, pid)
        with pytest.raises(DBAPIError) as failure:
            await _backend_pid(db)
        assert is_database_outage(failure.value)
        assert await _backend_pid(db) != pid
    finally:
        await db.dispose()
