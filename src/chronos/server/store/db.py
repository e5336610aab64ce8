"""Connections and transactions for PostgreSQL (asyncpg) and SQLite (aiosqlite).

    db = Database.from_url("sqlite:///./chronos.db")
    async with db.transaction() as conn:   # one transaction: commits on exit, rolls back on error
        await job_insert(conn, ...)
    async with db.read() as conn:          # read-only work
        ...

SQLite allows one writer at a time. Write transactions take ``BEGIN IMMEDIATE`` (so a read never
has to be upgraded to a write half-way, which SQLite can refuse) and are serialised inside the
process by a lock, so they queue in asyncio instead of spinning on ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def normalize_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, engine: AsyncEngine, url: str | None = None) -> None:
        self.engine = engine
        self.url = url or engine.url.render_as_string(hide_password=False)
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, echo: bool = False) -> Database:
        async_url = normalize_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if async_url.startswith("postgresql"):
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        else:
            # No ROLLBACK as a connection returns to the pool: every transaction here ends in
            # COMMIT or ROLLBACK already (``transaction()``, ``read()``), and on aiosqlite each
            # statement is a hand-off to the database thread.
            kwargs.update(connect_args={"timeout": 30}, pool_reset_on_return=None)
        engine = create_async_engine(async_url, hide_parameters=True, **kwargs)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        else:
            _ping_idle_connections(engine)
        return cls(engine, url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: everything inside commits together or not at all."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        async with lock, self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for work that is one statement, atomic on its own.

        On PostgreSQL it runs outside any transaction block (``AUTOCOMMIT``): the statement is
        its own transaction, and the ``BEGIN`` and ``COMMIT`` round trips of
        :meth:`transaction` — two of the claim's three — are gone. Only for a single
        statement: two statements here would commit separately. On SQLite it is a write
        transaction (in-process, so there is no round trip to save).
        """
        if self.is_sqlite:
            async with self.transaction() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 1.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only if it sat idle for a while.

    ``pool_pre_ping`` would cost a round trip on every transaction of the hot paths. A
    connection in steady use proves itself; one idle for ``IDLE_PING_SECONDS`` may have been cut
    (a database restart, a proxy) and is pinged, and replaced if dead. A connection that dies
    while busy fails its transaction, and SQLAlchemy then recycles every older connection of
    the pool.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer a ping") from exc


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
