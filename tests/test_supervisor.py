"""The supervisor restarts dead services with backoff, counts restarts and reports the failing.

Time is fake: the injected ``sleep`` records the backoff asked of it and only yields, and the
injected ``monotonic`` moves when a test (or a runner, to simulate its uptime) says so.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from prometheus_client import REGISTRY

from chronos.server.clock import FakeClock
from chronos.server.config import Settings
from chronos.server.engine.supervisor import Supervisor
from chronos.server.runtime import Runtime
from chronos.server.store.db import Database

WINDOW = 300.0


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class Flaky:
    """Dies once per entry of ``uptimes`` (after that many fake seconds up), then stays up."""

    def __init__(self, time: FakeTime, uptimes: list[float], *, returns: bool = False) -> None:
        self.name = f"flaky-{uuid.uuid4().hex[:8]}"
        self.time = time
        self.uptimes = uptimes
        self.returns = returns
        self.runs = 0
        self.up = asyncio.Event()
        self.cancelled = False

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= len(self.uptimes):
            self.time.now += self.uptimes[self.runs - 1]
            if self.returns:
                return
            raise RuntimeError(f"boom {self.runs}\nsecond line")
        self.up.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("chronos_service_restarts_total", {"service": name}) or 0.0


def supervisor_for(time: FakeTime) -> Supervisor:
    return Supervisor(sleep=time.sleep, monotonic=time.monotonic, failing_window=WINDOW)


async def started(supervisor: Supervisor, runner: Flaky) -> None:
    supervisor.start([runner])
    await asyncio.wait_for(runner.up.wait(), 5)


async def test_crashing_runner_is_restarted_with_growing_capped_backoff(caplog):
    time = FakeTime()
    supervisor = supervisor_for(time)
    runner = Flaky(time, [0.0] * 8)
    with caplog.at_level(logging.ERROR, logger="chronos.supervisor"):
        await started(supervisor, runner)
    try:
        assert time.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        assert runner.runs == 9
        assert restarts(runner.name) == 8
        assert supervisor.health[runner.name].restarts == 8
        assert supervisor.tasks[runner.name].get_name() == f"chronos:{runner.name}"
        # Each death is logged once, with its traceback.
        records = [r for r in caplog.records if r.name == "chronos.supervisor"]
        assert len(records) == 8
        assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in records)
        assert runner.name in records[0].getMessage()
    finally:
        await supervisor.stop()


async def test_backoff_resets_after_a_run_that_stayed_up():
    time = FakeTime()
    supervisor = supervisor_for(time)
    runner = Flaky(time, [0.0, 0.0, 0.0, 61.0, 0.0])
    await started(supervisor, runner)
    try:
        assert time.delays == [0.5, 1.0, 2.0, 0.5, 1.0]
        assert restarts(runner.name) == 5
    finally:
        await supervisor.stop()


async def test_runner_that_returns_is_restarted_like_a_crash():
    time = FakeTime()
    supervisor = supervisor_for(time)
    runner = Flaky(time, [0.0, 0.0, 0.0], returns=True)
    await started(supervisor, runner)
    try:
        assert time.delays == [0.5, 1.0, 2.0]
        assert restarts(runner.name) == 3
        assert supervisor.failing() == {runner.name: "run() returned"}
    finally:
        await supervisor.stop()


async def test_three_deaths_within_the_window_make_a_service_failing():
    time = FakeTime()
    supervisor = supervisor_for(time)
    twice = Flaky(time, [0.0, 0.0])
    spread = Flaky(time, [WINDOW / 2 + 1] * 3)  # never three deaths within one window
    thrice = Flaky(time, [0.0, 0.0, 0.0])
    for runner in (twice, spread, thrice):
        await started(supervisor, runner)
    try:
        assert supervisor.failing() == {thrice.name: "RuntimeError: boom 3"}
    finally:
        await supervisor.stop()


async def test_failing_service_recovers_once_it_stayed_up_for_the_window():
    time = FakeTime()
    supervisor = supervisor_for(time)
    runner = Flaky(time, [1.0, 1.0, 1.0])
    await started(supervisor, runner)
    try:
        assert runner.name in supervisor.failing()
        time.now += WINDOW - 1
        assert runner.name in supervisor.failing()
        time.now += 1
        assert supervisor.failing() == {}
        time.now += WINDOW
        assert supervisor.failing() == {}
    finally:
        await supervisor.stop()


async def test_stop_cancels_without_counting_a_restart():
    time = FakeTime()
    supervisor = supervisor_for(time)
    runner = Flaky(time, [])
    await started(supervisor, runner)
    task = supervisor.tasks[runner.name]
    await supervisor.stop()
    assert task.cancelled()
    assert runner.cancelled
    assert supervisor.tasks == {}
    assert restarts(runner.name) == 0
    assert time.delays == []
    assert supervisor.health[runner.name].last_error is None
    assert supervisor.failing() == {}


async def test_stop_during_backoff_does_not_count_a_restart():
    blocked = asyncio.Event()

    async def endless_sleep(seconds: float) -> None:
        blocked.set()
        await asyncio.Event().wait()

    time = FakeTime()
    supervisor = Supervisor(sleep=endless_sleep, monotonic=time.monotonic)
    runner = Flaky(time, [0.0])
    supervisor.start([runner])
    await asyncio.wait_for(blocked.wait(), 5)
    await supervisor.stop()
    assert runner.runs == 1
    assert restarts(runner.name) == 0
    assert supervisor.health[runner.name].restarts == 0


async def test_duplicate_names_are_refused():
    time = FakeTime()
    supervisor = supervisor_for(time)
    runner = Flaky(time, [])
    await started(supervisor, runner)
    try:
        with pytest.raises(ValueError, match="already supervised"):
            supervisor.start([runner])
    finally:
        await supervisor.stop()


async def test_ready_answers_503_naming_a_failing_service(client, runtime):
    assert (await client.get("/ready")).status_code == 200
    time = FakeTime()
    runtime.supervisor = supervisor_for(time)  # the runtime fixture's teardown stops it
    runner = Flaky(time, [0.0, 0.0, 0.0])
    await started(runtime.supervisor, runner)

    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "not_ready",
            "message": f"background service failing: {runner.name}",
            "details": {"failing_services": {runner.name: "RuntimeError: boom 3"}},
        }
    }

    time.now += WINDOW  # stayed up for the window since its last restart
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


async def test_runtime_supervises_its_services(db: Database, clock: FakeClock):
    settings = Settings(database_url="unused", migrate_on_start=False)
    node = Runtime(settings, clock=clock, db=db)
    await node.start()
    try:
        expected = {service.name for service in node.services}
        if not db.is_sqlite:
            expected.add("cluster-bridge")
        assert set(node.supervisor.tasks) == expected
        assert {"scheduler", "dispatcher"} <= expected
        tasks = list(node.supervisor.tasks.values())
        assert all(t.get_name() == f"chronos:{n}" for n, t in node.supervisor.tasks.items())
        await asyncio.sleep(0)
        assert not any(task.done() for task in tasks)
    finally:
        await node.stop()
    assert all(task.cancelled() for task in tasks)
    assert node.supervisor.tasks == {}
