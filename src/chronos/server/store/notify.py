"""Wake-ups between nodes over PostgreSQL ``LISTEN``/``NOTIFY``: all the SQL of the cluster
bridge (``engine/cluster.py``), which owns the connection's life and the message format.

    conn = await notify_connect(database_url)
    await notify_listen(conn, on_payload)        # on_payload(text) for every NOTIFY
    await notify_send(conn, ['{"n": …}'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

CHANNEL = "chronos"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7000

# What a lost or refused notification connection raises.
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def asyncpg_dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def notify_connect(database_url: str, *, connect_timeout: float = 5.0) -> asyncpg.Connection:
    """A dedicated connection for notifications (a pooled one would lose its listeners)."""
    return await asyncpg.connect(asyncpg_dsn(database_url), timeout=connect_timeout)


async def notify_listen(conn: asyncpg.Connection, on_payload: Callable[[str], None]) -> None:
    def listener(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        on_payload(payload)

    await conn.add_listener(CHANNEL, listener)


async def notify_send(conn: asyncpg.Connection, payloads: list[str]) -> None:
    for payload in payloads:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
