"""End-to-end fixtures: a throwaway PostgreSQL database per test, real server processes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.conftest import IN_CI, PG_SERVER_URL, _admin_url, _pg_admin
from tests.e2e.server import ChronosServer
from tests.endpoint import Endpoint, free_port


@pytest.fixture
def pg_database() -> Iterator[str]:
    name = f"chronos_e2e_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER_URL}: {exc!r}")
    yield _admin_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ChronosServer]]:
    """Servers a test starts are added here and stopped afterwards, whatever happens."""
    started: list[ChronosServer] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """The loopback push endpoint, served from its own thread so the test itself can block."""
    target = Endpoint(free_port())
    server = uvicorn.Server(
        uvicorn.Config(
            target, host="127.0.0.1", port=target.port, log_level="error", lifespan="off"
        )
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the test endpoint did not start"
    yield target
    server.should_exit = True
    thread.join(10)
