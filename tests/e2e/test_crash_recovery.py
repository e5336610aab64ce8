"""Kill -9 a real ``chronos serve`` on PostgreSQL while schedules fire and jobs run, restart it,
and prove from the database: no slot fired twice, no slot lost beyond the misfire policy, and
every execution that was running at the kill timed out and was retried."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e

SCHEDULES = 5
LEASE_SECONDS = 3


def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def work(http: httpx.Client, seconds: float, *, abandon_every: int = 0) -> list[str]:
    """Claim and complete jobs for ``seconds``; leave every Nth claimed job unanswered."""
    abandoned: list[str] = []
    claimed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = http.post(
            "/v1/worker/jobs/claim",
            json={
                "handlers": ["tick", "oneoff"],
                "worker_id": "e2e",
                "wait_seconds": 0.5,
                "limit": 10,
            },
        )
        response.raise_for_status()
        for job in response.json()["jobs"]:
            claimed += 1
            if abandon_every and claimed % abandon_every == 0:
                abandoned.append(job["execution_id"])
                continue
            result = http.post(
                f"/v1/worker/executions/{job['execution_id']}/result",
                json={"status": "completed", "output": {"ok": True}},
            )
            assert result.status_code == 200, result.text
    return abandoned


def claim_and_hold(http: httpx.Client) -> list[str]:
    """Claim whatever is ready and never answer: these executions are running at the kill."""
    held: list[str] = []
    for _ in range(20):
        response = http.post(
            "/v1/worker/jobs/claim",
            json={
                "handlers": ["tick", "oneoff"],
                "worker_id": "doomed",
                "wait_seconds": 1,
                "limit": 100,
            },
        )
        held += [job["execution_id"] for job in response.json()["jobs"]]
        if held:
            return held
    raise AssertionError("nothing was claimable before the kill")


def test_kill_minus_nine_loses_nothing_and_fires_nothing_twice(pg_database, servers, tmp_path):
    server = ChronosServer(pg_database, tmp_path)
    servers.append(server)
    server.start()
    with server.client() as http:
        for index in range(SCHEDULES):
            created = http.post(
                "/v1/schedules",
                json={
                    "name": f"tick-{index}",
                    "handler": "tick",
                    "interval": {"value": 1, "unit": "second"},
                    "concurrency": "allow",
                    "timeout": LEASE_SECONDS,
                    "max_retries": 5,
                },
            )
            assert created.status_code == 201, created.text
        for index in range(3):
            http.post(
                "/v1/jobs",
                json={"handler": "oneoff", "payload": {"n": index}, "timeout": LEASE_SECONDS},
            )
        work(http, 3.0, abandon_every=4)
        doomed = claim_and_hold(http)

    killed_at = datetime.now(UTC)
    server.kill()
    time.sleep(3)  # the outage itself: this is what the test is about, not a wait for a result
    server.start()
    restarted_at = datetime.now(UTC)

    with server.client() as http:
        work(http, 4.0)
    # Stop working; the held executions' leases (3 s from their claim) are long gone by now,
    # so the rescuer on the restarted node must time them out. Poll, with a deadline.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        states = query(pg_database, "SELECT status FROM executions WHERE id = ANY($1)", doomed)
        if all(row["status"] == "timeout" for row in states):
            break
        time.sleep(0.1)
    finished_at = datetime.now(UTC)
    server.stop()

    # 1. No slot fired twice.
    duplicates = query(
        pg_database,
        """
        SELECT schedule_id, scheduled_for, count(*) FROM jobs WHERE trigger = 'schedule'
        GROUP BY schedule_id, scheduled_for HAVING count(*) > 1""",
    )
    assert duplicates == []

    # 2. No slot lost beyond run_once: within each schedule, every 1 s slot from the first to
    # the last is there, except slots of the outage, which collapse into one job.
    slots_by_schedule: dict[str, list[datetime]] = {}
    for row in query(
        pg_database,
        """SELECT schedule_id, scheduled_for FROM jobs
                                      WHERE trigger = 'schedule' ORDER BY scheduled_for""",
    ):
        slots_by_schedule.setdefault(row["schedule_id"], []).append(row["scheduled_for"])
    assert len(slots_by_schedule) == SCHEDULES
    for slots in slots_by_schedule.values():
        assert all(slot.microsecond == 0 for slot in slots)
        missing = [
            earlier + timedelta(seconds=k)
            for earlier, later in itertools.pairwise(slots)
            for k in range(1, int((later - earlier).total_seconds()))
        ]
        for slot in missing:
            assert (
                killed_at - timedelta(seconds=1.5) <= slot <= restarted_at + timedelta(seconds=1)
            ), f"slot {slot} was lost outside the outage"
        assert slots[-1] >= finished_at - timedelta(seconds=30), "firing resumed after restart"
        assert any(slot >= restarted_at - timedelta(seconds=1) for slot in slots)

    # 3. Every execution running at the kill timed out, and its job was retried.
    rows = query(
        pg_database,
        """
        SELECT e.id, e.status, e.attempt, j.attempt AS job_attempt, j.status AS job_status
        FROM executions e JOIN jobs j ON j.id = e.job_id WHERE e.id = ANY($1)""",
        doomed,
    )
    assert len(rows) == len(doomed)
    for row in rows:
        assert row["status"] == "timeout", dict(row)
        retried = row["job_attempt"] > row["attempt"] or row["job_status"] == "pending"
        assert retried, f"job of {row['id']} was not retried: {dict(row)}"

    # 4. Nothing is stuck running past its lease.
    stuck = query(
        pg_database,
        """SELECT id FROM executions WHERE status = 'running'
                                  AND lease_expires_at < now() - interval '2 seconds'""",
    )
    assert stuck == []
