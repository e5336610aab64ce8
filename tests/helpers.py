"""Shared steps of the API and engine tests: one function per action a test takes on the way.

Each helper that makes a request asserts the status it expects (and shows the body when it
differs), so a broken step fails where it happens. A test whose point is the response itself,
or that deliberately sends something unusual, makes its request directly instead.

The engine helpers run one round of a service on the test runtime's database, clock and
notifier, as a node would; the services keep no state between rounds, so a fresh one per
round behaves like one kept for the whole test.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa

from chronos.server.app import create_app
from chronos.server.engine.admission import AdmissionRound, AdmissionService
from chronos.server.engine.dispatcher import Dispatcher
from chronos.server.engine.maintenance.lease_rescuer import LeaseRescuer, RescueRound
from chronos.server.engine.scheduler import Scheduler, SchedulerRound
from chronos.server.store.tables import jobs

if TYPE_CHECKING:
    from chronos.server.runtime import Runtime
    from chronos.server.store.db import Database

Json = dict[str, Any]


# --- values -------------------------------------------------------------------------------------


def at(text: str) -> datetime:
    """The instant an API timestamp (``2026-03-01T12:00:00Z``) stands for."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@asynccontextmanager
async def api_client(
    runtime: Runtime, key: str, *, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of a fresh app for ``runtime``, in-process, authenticated with ``key``."""
    transport = httpx.ASGITransport(
        app=create_app(runtime), raise_app_exceptions=raise_app_exceptions
    )
    async with httpx.AsyncClient(
        transport=transport, base_url="http://chronos.test", headers=bearer(key)
    ) as http:
        yield http


def bearer(key: str) -> dict[str, str]:
    """Headers that authenticate a request with the API key ``key``."""
    return {"Authorization": f"Bearer {key}"}


def expect(response: httpx.Response, status: int) -> Any:
    """The response's JSON body, after checking it has ``status`` (else fail showing the body)."""
    assert response.status_code == status, response.text
    return response.json()


# --- jobs and schedules -------------------------------------------------------------------------


async def create_job(client: httpx.AsyncClient, **fields: Any) -> Json:
    """POST /v1/jobs with ``fields`` as the body, exactly as given; the created job."""
    return expect(await client.post("/v1/jobs", json=fields), 201)


async def get_job(client: httpx.AsyncClient, job_id: str) -> Json:
    """GET /v1/jobs/{job_id}: the job with its executions."""
    return expect(await client.get(f"/v1/jobs/{job_id}"), 200)


async def list_jobs(client: httpx.AsyncClient, **params: Any) -> list[Json]:
    """GET /v1/jobs with ``params`` as the query (``**{"tag.team": "x"}`` for a tag): one page."""
    return expect(await client.get("/v1/jobs", params=params), 200)["data"]


async def create_schedule(client: httpx.AsyncClient, **fields: Any) -> Json:
    """POST /v1/schedules with ``fields`` as the body, exactly as given; the created schedule."""
    return expect(await client.post("/v1/schedules", json=fields), 201)


async def get_schedule(client: httpx.AsyncClient, ref: str) -> Json:
    """GET /v1/schedules/{ref}, ``ref`` being the schedule's id or its name as the path has it."""
    return expect(await client.get(f"/v1/schedules/{ref}"), 200)


async def trigger_schedule(client: httpx.AsyncClient, ref: str) -> Json:
    """POST /v1/schedules/{ref}/trigger: the manual job it made."""
    return expect(await client.post(f"/v1/schedules/{ref}/trigger"), 201)


async def create_api_key(client: httpx.AsyncClient, name: str) -> Json:
    """POST /v1/api-keys: the new key's record, with the key itself (shown only this once)."""
    return expect(await client.post("/v1/api-keys", json={"name": name}), 201)


# --- the worker protocol ------------------------------------------------------------------------


async def claim(
    client: httpx.AsyncClient,
    handlers: Iterable[str] = ("h",),
    *,
    limit: int = 1,
    worker_id: str = "w1",
    **fields: Any,
) -> list[Json]:
    """POST /v1/worker/jobs/claim without waiting: the jobs claimed (none, if none were ready)."""
    body = {
        "handlers": list(handlers),
        "wait_seconds": 0,
        "limit": limit,
        "worker_id": worker_id,
        **fields,
    }
    return expect(await client.post("/v1/worker/jobs/claim", json=body), 200)["jobs"]


async def claim_one(
    client: httpx.AsyncClient, handlers: Iterable[str] = ("h",), **fields: Any
) -> Json:
    """Claim a single job, failing unless there is exactly one to claim."""
    claimed = await claim(client, handlers, limit=1, **fields)
    assert len(claimed) == 1, f"expected one job to claim, got {claimed}"
    return claimed[0]


def long_poll(
    client: httpx.AsyncClient,
    handlers: Iterable[str] = ("h",),
    wait_seconds: float = 5,
    *,
    worker_id: str = "w1",
) -> asyncio.Task[httpx.Response]:
    """Start a claim that waits up to ``wait_seconds`` for a job, as a task; await its response."""
    body = {"handlers": list(handlers), "wait_seconds": wait_seconds, "worker_id": worker_id}
    return asyncio.create_task(client.post("/v1/worker/jobs/claim", json=body))


async def report(
    client: httpx.AsyncClient, execution_id: str, status: str = "completed", **fields: Any
) -> Json:
    """POST an execution's result; ``output=``, ``error=`` or ``retryable=`` go in ``fields``."""
    response = await client.post(
        f"/v1/worker/executions/{execution_id}/result", json={"status": status, **fields}
    )
    return expect(response, 200)


# --- the engine ---------------------------------------------------------------------------------


async def run_dispatcher(runtime: Runtime, *, concurrency: int = 10) -> None:
    """One dispatcher round on ``runtime``: claim what is queued, send it, record the results."""
    dispatcher = Dispatcher(runtime.db, runtime.clock, runtime.notifier, concurrency=concurrency)
    try:
        await dispatcher.run_once()
        await dispatcher.wait_idle()
    finally:
        await dispatcher.close()


async def run_scheduler(runtime: Runtime) -> SchedulerRound:
    """One scheduler round: fire the slots due at the runtime clock's now."""
    return await Scheduler(runtime.db, runtime.clock, runtime.notifier).run_once()


async def run_admission(runtime: Runtime) -> AdmissionRound:
    """One admission round: make the pending jobs that are due ready."""
    return await AdmissionService(runtime.db, runtime.clock, runtime.notifier).run_once()


async def run_lease_rescuer(runtime: Runtime) -> RescueRound:
    """One lease rescuer round: time out the executions whose lease has expired."""
    return await LeaseRescuer(runtime.db, runtime.clock, runtime.notifier).run_once()


async def fired_slots(db: Database, schedule_id: str) -> list[datetime]:
    """The slots the schedule has made jobs for, read from the database, earliest first."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(jobs.c.scheduled_for)
            .where(jobs.c.schedule_id == schedule_id)
            .order_by(jobs.c.scheduled_for)
        )
        return [r.scheduled_for for r in rows]


# --- waiting ------------------------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    message: str,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - the polling bound, not a cancellation scope
    interval: float = 0.01,
) -> None:
    """Poll ``predicate`` (plain or async) every ``interval`` seconds until it holds.

    Fails with ``message`` if it still does not hold after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = predicate()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"{message} (waited {timeout}s)")
        await asyncio.sleep(interval)


async def wait_for_claimers(runtime: Runtime, count: int = 1) -> None:
    """Wait until ``count`` long-polling claims are parked, waiting for a job."""
    await wait_until(
        lambda: runtime.notifier.claim_waiter_count >= count,
        f"{count} claim(s) never started waiting",
    )
