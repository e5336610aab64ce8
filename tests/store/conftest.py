"""Fixtures for the store tests: accounts and small factories of valid rows.

Rows come from the domain builders, with ids made from a counter of milliseconds so that rows
built later sort later (``new_id`` otherwise orders ids within one millisecond at random), and
any column overridden by keyword.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import FakeClock
from chronos.server.domain.jobs import job_from_spec
from chronos.server.domain.rows import ClaimedJob, JobRow, ScheduleRow
from chronos.server.domain.schedules import new_schedule
from chronos.server.ids import new_id
from chronos.server.normalize import normalize_job, normalize_schedule
from chronos.server.schemas import JobIn, ScheduleIn
from chronos.server.store import claims
from chronos.server.store import jobs as job_store
from chronos.server.store.accounts import account_create
from chronos.server.store.db import Database
from chronos.server.store.executions import execution_finish_many

MAX_PAYLOAD = 65536
PUSH_DELIVERY = {"type": "push", "http": {"url": "https://example.test/hook"}}

# Runs a test on PostgreSQL only (row locks, LISTEN/NOTIFY), overriding the db fixture's params.
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

_millis = itertools.count(int(time.time() * 1000))


def next_id(prefix: str) -> str:
    """An id that sorts after every id made before it."""
    return new_id(prefix, at_ms=next(_millis))


RowFactory = Callable[..., Any]


@pytest.fixture
async def account_id(db: Database, clock: FakeClock) -> str:
    async with db.transaction() as conn:
        return (await account_create(conn, "acme", clock.now()))["id"]


@pytest.fixture
async def other_account_id(db: Database, clock: FakeClock, account_id: str) -> str:
    async with db.transaction() as conn:
        return (await account_create(conn, "globex", clock.now()))["id"]


def _job(account_id: str, now: datetime, body: dict[str, Any], fields: dict[str, Any]) -> JobRow:
    spec = normalize_job(JobIn.model_validate(body), max_payload_bytes=MAX_PAYLOAD)
    row = job_from_spec(spec, account_id=account_id, now=now)
    return {**row, "id": next_id("job"), **fields}  # type: ignore[typeddict-item]


@pytest.fixture
def pull_job(account_id: str, clock: FakeClock) -> RowFactory:
    """A one-off pull job of handler ``email``, ``ready`` now; keywords override columns."""
    return lambda **fields: _job(account_id, clock.now(), {"handler": "email"}, fields)


@pytest.fixture
def push_job(account_id: str, clock: FakeClock) -> RowFactory:
    """A one-off push job, ``queued`` now; keywords override columns."""
    return lambda **fields: _job(account_id, clock.now(), {"delivery": PUSH_DELIVERY}, fields)


@pytest.fixture
def schedule(account_id: str, clock: FakeClock) -> RowFactory:
    """An enabled every-minute schedule of handler ``report``; keywords override columns."""

    def make(name: str = "nightly", **fields: Any) -> ScheduleRow:
        body = {"name": name, "handler": "report", "interval": 60}
        spec = normalize_schedule(ScheduleIn.model_validate(body), max_payload_bytes=MAX_PAYLOAD)
        row = new_schedule(account_id, spec, clock.now())
        return {**row, "id": next_id("sch"), **fields}  # type: ignore[typeddict-item]

    return make


async def start(conn: AsyncConnection, row: JobRow, now: datetime) -> ClaimedJob:
    """Insert a ready pull job and claim it (it must be the first ready job of its handler)."""
    await job_store.job_insert(conn, row)
    claimed = await claims.job_claim_ready(
        conn,
        account_id=row["account_id"],
        handlers=[row["handler"] or ""],
        limit=1,
        worker_id="w1",
        now=now,
    )
    assert [job["id"] for job in claimed] == [row["id"]]
    return claimed[0]


async def finish(conn: AsyncConnection, row: JobRow, status: str, now: datetime) -> ClaimedJob:
    """Insert, claim and end a pull job ``completed`` or ``failed`` at ``now``."""
    job = await start(conn, row, now)
    await execution_finish_many(
        conn,
        [
            {
                "id": job["execution_id"],
                "status": status,
                "finished_at": now,
                "duration_ms": 0,
                "output": None,
                "error": None,
                "http_status": None,
                "response_excerpt": None,
            }
        ],
    )
    await job_store.job_apply_outcomes(
        conn,
        [
            {
                "id": row["id"],
                "status": status,
                "run_at": row["run_at"],
                "result": None,
                "last_error": None,
                "finished_at": now,
                "now": now,
            }
        ],
    )
    return job
