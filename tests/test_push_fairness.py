"""Push slots are shared fairly between accounts (``engine/dispatcher.py``).

Every account has at most ``account_concurrency`` requests in flight on a node, and each round
deals the free slots round-robin between the accounts that have queued jobs. The endpoint holds
requests until the test releases them (an ``asyncio.Event``): nothing here sleeps for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from chronos.server.config import Settings
from chronos.server.engine.dispatcher import Dispatcher, share_slots
from chronos.server.store import accounts as account_store
from tests.helpers import create_job, expect, get_job, wait_until

Json = dict[str, Any]


@pytest.fixture
async def dispatchers(runtime) -> AsyncIterator[Any]:
    """``make(concurrency=…, account_concurrency=…)``: a dispatcher, closed after the test."""
    made: list[Dispatcher] = []

    def make(**options: Any) -> Dispatcher:
        made.append(Dispatcher(runtime.db, runtime.clock, runtime.notifier, **options))
        return made[-1]

    yield make
    for dispatcher in made:
        await dispatcher.close()


@pytest.fixture
async def accounts(runtime, client) -> AsyncIterator[Any]:
    """``await new_client()``: an API client of a new account (``client`` is the first)."""
    async with contextlib.AsyncExitStack() as stack:

        async def new_client() -> httpx.AsyncClient:
            async with runtime.db.transaction() as conn:
                row = await account_store.account_create(
                    conn, f"tenant-{uuid.uuid4().hex[:6]}", runtime.clock.now()
                )
                _, key = await account_store.api_key_create(
                    conn, row["id"], "test", runtime.clock.now()
                )
            return await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=client._transport,
                    base_url="http://chronos.test",
                    headers={"Authorization": f"Bearer {key}"},
                )
            )

        yield new_client


class Held:
    """A route that answers 200 only once ``release`` is set; counts the requests it holds."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.holding = 0
        self.most = 0  # the most requests held at once

    async def __call__(self, _: Request) -> Response:
        self.holding += 1
        self.most = max(self.most, self.holding)
        try:
            await asyncio.wait_for(self.release.wait(), 10)
        finally:
            self.holding -= 1
        return Response(status_code=200)


async def push_jobs(client: httpx.AsyncClient, url: str, count: int) -> list[Json]:
    body = {"jobs": [{"delivery": {"type": "push", "http": {"url": url}}}] * count}
    return expect(await client.post("/v1/jobs/batch", json=body), 201)["data"]


async def push_job(client: httpx.AsyncClient, url: str) -> Json:
    return await create_job(client, delivery={"type": "push", "http": {"url": url}})


async def statuses(client: httpx.AsyncClient, jobs: list[Json]) -> list[str]:
    return [(await get_job(client, job["id"]))["status"] for job in jobs]


async def drain(dispatcher: Dispatcher, rounds: int = 50) -> None:
    """Deliver until nothing is left to claim (bounded: ``rounds`` rounds at most)."""
    for _ in range(rounds):
        await dispatcher.wait_idle()
        if (await dispatcher.run_once()).started == 0 and not dispatcher.in_flight:
            return
    raise AssertionError(f"still delivering after {rounds} rounds")


async def test_one_accounts_backlog_does_not_hold_back_another_accounts_job(
    client, other_client, endpoint, dispatchers, runtime
):
    held = Held()
    endpoint.route("/held", held)
    endpoint.route("/fast", 200)
    backlog = await push_jobs(client, endpoint.url("/held"), 20)
    runtime.clock.advance(seconds=1)  # B's job is the newest: oldest-first alone would skip it
    lone = await push_job(other_client, endpoint.url("/fast"))
    dispatcher = dispatchers(concurrency=8, account_concurrency=2)

    first = await dispatcher.run_once()

    assert lone["id"] in dispatcher.in_flight
    assert sum(job["id"] in dispatcher.in_flight for job in backlog) == 2
    assert (first.started, first.accounts) == (3, 2)
    assert sorted(dispatcher.in_flight_by_account.values()) == [1, 2]
    await wait_until(
        lambda: _status_is(other_client, lone, "completed"), "B's job was never delivered"
    )
    await wait_until(lambda: held.holding == 2, "A's two requests never reached the endpoint")
    for _ in range(3):  # A is at its cap: more rounds claim nothing for it
        assert (await dispatcher.run_once()).started == 0
    assert sorted(await statuses(client, backlog)) == ["queued"] * 18 + ["running"] * 2

    held.release.set()
    await drain(dispatcher)

    assert await statuses(client, backlog) == ["completed"] * 20
    assert held.most == 2


async def test_an_account_alone_is_capped_at_its_share_and_refilled_in_batches(
    client, endpoint, dispatchers
):
    held = Held()
    endpoint.route("/held", held)
    jobs = await push_jobs(client, endpoint.url("/held"), 12)
    dispatcher = dispatchers(concurrency=8, account_concurrency=4)

    assert (await dispatcher.run_once()).started == 4
    assert (await dispatcher.run_once()).started == 0
    await wait_until(lambda: held.holding == 4, "the requests never reached the endpoint")

    held.release.set()
    await drain(dispatcher)
    assert await statuses(client, jobs) == ["completed"] * 12
    assert held.most == 4


async def test_an_account_alone_with_the_whole_share_gets_every_slot(client, endpoint, dispatchers):
    held = Held()
    endpoint.route("/held", held)
    await push_jobs(client, endpoint.url("/held"), 20)
    dispatcher = dispatchers(concurrency=8, account_concurrency=8)

    assert (await dispatcher.run_once()).started == 8
    held.release.set()
    await drain(dispatcher)


async def test_scarce_slots_go_one_per_account_before_any_account_gets_two(
    client, accounts, endpoint, dispatchers, runtime
):
    held = Held()
    endpoint.route("/held", held)
    backlogs = []
    for tenant in (client, await accounts(), await accounts()):  # the first's jobs are oldest
        backlogs.append(await push_jobs(tenant, endpoint.url("/held"), 3))
        runtime.clock.advance(seconds=1)
    dispatcher = dispatchers(concurrency=3, account_concurrency=3)

    round_ = await dispatcher.run_once()

    assert [sum(j["id"] in dispatcher.in_flight for j in jobs) for jobs in backlogs] == [1, 1, 1]
    assert (round_.started, round_.accounts) == (3, 3)
    held.release.set()
    await drain(dispatcher)


async def test_a_freed_slot_goes_to_the_account_served_longest_ago(
    client, accounts, endpoint, dispatchers, runtime
):
    routes = {name: Held() for name in ("a", "b", "c")}
    for name, held in routes.items():
        endpoint.route(f"/{name}", held)
    a, b, c = client, await accounts(), await accounts()
    for tenant, name in ((a, "a"), (b, "b"), (c, "c")):  # a's jobs are the oldest, c's newest
        await push_jobs(tenant, endpoint.url(f"/{name}"), 2)
        runtime.clock.advance(seconds=1)
    dispatcher = dispatchers(concurrency=2, account_concurrency=2)
    await dispatcher.run_once()  # a and b: their jobs have waited longest
    await wait_until(
        lambda: routes["a"].holding == 1 and routes["b"].holding == 1,
        "a's and b's requests never reached the endpoint",
    )

    routes["a"].release.set()  # one slot frees up: c, never served yet, goes before a
    await wait_until(lambda: len(dispatcher.in_flight) == 1, "a's request never finished")
    assert (await dispatcher.run_once()).started == 1
    await wait_until(lambda: routes["c"].holding == 1, "c's request never reached the endpoint")
    assert (routes["a"].holding, routes["b"].holding) == (0, 1)

    for held in routes.values():
        held.release.set()
    await drain(dispatcher)


async def test_the_running_service_drains_a_capped_backlog_by_its_own_wakeups(
    client, other_client, endpoint, dispatchers
):
    held = Held()
    endpoint.route("/held", held)
    endpoint.route("/fast", 200)
    backlog = await push_jobs(client, endpoint.url("/held"), 20)
    dispatcher = dispatchers(concurrency=8, account_concurrency=2)
    dispatcher.max_idle_seconds = 60  # only wake-ups move it: no 1 s safety-net rounds
    service = asyncio.create_task(dispatcher.run())
    try:
        await wait_until(lambda: held.holding == 2, "A's requests never reached the endpoint")
        lone = await push_job(other_client, endpoint.url("/fast"))
        await wait_until(
            lambda: _status_is(other_client, lone, "completed"), "B's job was never delivered"
        )
        held.release.set()
        await wait_until(
            lambda: _all_completed(client, backlog), "A's backlog never drained", timeout=10
        )
        assert held.most == 2
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)


def test_share_slots_deals_one_each_in_order_up_to_what_each_wants():
    assert share_slots([("a", 5), ("b", 1), ("c", 3)], 6) == {"a": 3, "b": 1, "c": 2}
    assert share_slots([("a", 5), ("b", 1)], 100) == {"a": 5, "b": 1}
    assert share_slots([("a", 5), ("b", 0), ("c", 2)], 2) == {"a": 1, "c": 1}
    assert share_slots([("a", 5), ("b", 5), ("c", 5)], 2) == {"a": 1, "b": 1}
    assert share_slots([], 3) == {}


def test_account_concurrency_defaults_to_half_of_the_slots(monkeypatch):
    assert Settings().push_account_concurrency == 50
    assert Settings(push_concurrency=8).push_account_concurrency == 4
    assert Settings(push_concurrency=1).push_account_concurrency == 1
    monkeypatch.setenv("CHRONOS_PUSH_CONCURRENCY", "40")
    assert Settings.from_env().push_account_concurrency == 20
    monkeypatch.setenv("CHRONOS_PUSH_ACCOUNT_CONCURRENCY", "40")
    assert Settings.from_env().push_account_concurrency == 40
    for bad in ("0", "-1", "many"):
        monkeypatch.setenv("CHRONOS_PUSH_ACCOUNT_CONCURRENCY", bad)
        with pytest.raises(ValueError, match="CHRONOS_PUSH_ACCOUNT_CONCURRENCY"):
            Settings.from_env()


async def test_the_node_builds_its_dispatcher_with_the_account_share(runtime, dispatchers):
    [built] = [s for s in runtime.build_services() if isinstance(s, Dispatcher)]
    try:
        assert (built.concurrency, built.account_concurrency) == (100, 50)
    finally:
        await built.close()
    # Built directly, without the setting, a dispatcher caps no account below its slots.
    assert dispatchers(concurrency=10).account_concurrency == 10


async def _status_is(client: httpx.AsyncClient, job: Json, status: str) -> bool:
    return (await get_job(client, job["id"]))["status"] == status


async def _all_completed(client: httpx.AsyncClient, jobs: list[Json]) -> bool:
    return await statuses(client, jobs) == ["completed"] * len(jobs)
