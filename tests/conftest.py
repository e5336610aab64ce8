"""Shared fixtures.

Every store, engine and API test runs on SQLite and on PostgreSQL through the ``db`` fixture's
two parameters. PostgreSQL tests use a throwaway database created for the session on
127.0.0.1:5432 (``CHRONOS_TEST_PG_URL`` overrides the server); tables are emptied between
tests. With ``CI=true`` a PostgreSQL that cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chronos.server.clock import FakeClock
from chronos.server.config import Settings
from chronos.server.runtime import Runtime
from chronos.server.store import accounts as account_store
from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate
from chronos.server.store.tables import metadata
from tests.endpoint import Endpoint, start_endpoint
from tests.helpers import api_client

PG_SERVER_URL = os.environ.get("CHRONOS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_url(database: str = "postgres") -> str:
    return f"{PG_SERVER_URL.rstrip('/')}/{database}"


async def _pg_admin(statement: str) -> None:
    import asyncpg

    dsn = _admin_url()
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps its event loop running in the main
    thread for as long as the (session-wide) browser lives, and async tests cannot start
    their own loop meanwhile."""
    items.sort(key=lambda item: item.path.name.startswith("test_browser_"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    name = f"chronos_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER_URL}: {exc!r}")
    url = _admin_url(name)

    async def setup() -> None:
        db = Database.from_url(url)
        await migrate(db)
        await db.dispose()

    asyncio.run(setup())
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def setup() -> None:
        db = Database.from_url(f"sqlite:///{path}")
        await migrate(db)
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await db.dispose()

    asyncio.run(setup())
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "chronos.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    return request.getfixturevalue("postgres_url")


async def _empty_tables(db: Database) -> None:
    async with db.transaction() as conn:
        if db.is_sqlite:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        else:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(database_url)
    await _empty_tables(database)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))


@pytest.fixture
async def runtime(db: Database, clock: FakeClock) -> AsyncIterator[Runtime]:
    """A node whose services do not run by themselves: tests call ``run_once()``."""
    settings = Settings(
        database_url="unused",
        migrate_on_start=False,
        max_payload_bytes=64 * 1024,
        max_body_bytes=1024 * 1024,
    )
    node = Runtime(settings, clock=clock, db=db, run_services=False)
    await node.start()
    yield node
    await node.supervisor.stop()


@pytest.fixture
async def account(runtime: Runtime, clock: FakeClock) -> dict[str, Any]:
    async with runtime.db.transaction() as conn:
        row = await account_store.account_create(conn, f"acct-{uuid.uuid4().hex[:6]}", clock.now())
        _, key = await account_store.api_key_create(conn, row["id"], "test", clock.now())
    return {**row, "key": key}


@pytest.fixture
async def client(runtime: Runtime, account: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the app in-process, authenticated as ``account``."""
    async with api_client(runtime, account["key"]) as http:
        yield http


@pytest.fixture
async def other_client(
    runtime: Runtime, clock: FakeClock, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second account, to prove accounts cannot see each other's objects."""
    async with runtime.db.transaction() as conn:
        row = await account_store.account_create(conn, f"other-{uuid.uuid4().hex[:6]}", clock.now())
        _, key = await account_store.api_key_create(conn, row["id"], "test", clock.now())
    async with httpx.AsyncClient(
        transport=client._transport,
        base_url="http://chronos.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        yield http


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    """A real HTTP endpoint on loopback for push tests (``tests/endpoint.py``)."""
    server_endpoint, server, task = await start_endpoint()
    yield server_endpoint
    server.should_exit = True
    await task
