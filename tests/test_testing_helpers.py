"""``chronos.testing``: perform, the embedded server, its assertions, time control and drain,
and the example test file users copy (examples/test_example.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chronos import AsyncChronos, NonRetryable
from chronos.testing import ChronosTestServer, aperform, make_context, perform

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosTestServer]:
    """One embedded server for the tests that only add jobs (each uses its own handlers)."""
    with ChronosTestServer(tmp_path_factory.mktemp("shared"), now=START) as server:
        yield server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChronosTestServer]:
    with ChronosTestServer(tmp_path / "chronos", now=START) as node:
        yield node


# --- perform -------------------------------------------------------------------------------


def test_perform_runs_a_sync_handler_with_the_worker_context():
    seen = {}

    def handler(ctx):
        seen.update(
            payload=ctx.payload,
            attempt=ctx.attempt,
            job_id=ctx.job_id,
            execution_id=ctx.execution_id,
            name=ctx.job["name"],
            handler=ctx.handler,
        )
        return {"n": ctx.payload["n"] + 1}

    assert perform(handler, {"n": 1}, attempt=2, job={"name": "nightly"}) == {"n": 2}
    assert seen["payload"] == {"n": 1} and seen["attempt"] == 2 and seen["name"] == "nightly"
    assert seen["job_id"].startswith("job_") and seen["execution_id"].startswith("exe_")
    assert seen["handler"] == "handler"


def test_perform_gives_an_empty_dict_when_no_payload_was_sent():
    assert perform(lambda ctx: ctx.payload) == {}
    assert perform(lambda ctx: ctx.payload, None) == {}
    assert perform(lambda ctx: ctx.payload, [1, 2]) == [1, 2]  # any JSON, as sent
    assert perform(lambda ctx: ctx.payload, 0) == 0


def test_perform_runs_async_handlers_and_raises_their_errors():
    async def charge(ctx):
        await asyncio.sleep(0)
        if "invoiceId" not in ctx.payload:
            raise NonRetryable("no invoiceId")
        return ctx.payload["invoiceId"]

    assert perform(charge, {"invoiceId": "inv_1"}) == "inv_1"
    with pytest.raises(NonRetryable, match="no invoiceId"):
        perform(charge)


async def test_perform_works_inside_a_running_event_loop_and_aperform_on_it():
    async def handler(ctx):
        return ctx.attempt

    assert perform(handler, attempt=4) == 4  # an async test calling the sync helper
    assert await aperform(handler, attempt=5) == 5
    assert await aperform(lambda ctx: ctx.payload, {"a": 1}) == {"a": 1}


def test_perform_shows_cancellation_and_refuses_output_that_is_not_json():
    assert perform(lambda ctx: ctx.cancel_requested, cancel_requested=True) is True
    assert make_context().cancel_requested is False
    with pytest.raises(TypeError, match="not JSON"):
        perform(lambda ctx: object())
    assert perform(lambda ctx: {1, 2}, check_json=False) == {1, 2}


# --- the embedded server -------------------------------------------------------------------


def test_embedded_server_serves_the_sync_and_async_clients(shared):
    job = shared.client.jobs.create(handler="clients", payload={"x": 1})
    assert shared.client.jobs.get(job.id).status == "ready"
    assert shared.url.startswith("http://127.0.0.1:") and shared.api_key.startswith("chrns_")

    async def fetch() -> str:
        async with AsyncChronos(api_key=shared.api_key, base_url=shared.url) as client:
            return (await client.jobs.get(job.id)).status

    assert asyncio.run(fetch()) == "ready"
    assert shared.now() == START  # the clock is frozen: it moves only when told


def test_assert_and_refute_enqueued_match_handler_payload_and_schedule(shared):
    client = shared.client
    client.jobs.create(handler="mail", payload={"to": "ada", "meta": {"lang": "en", "v": 2}})
    client.jobs.create(handler="mail", payload={"to": "bob"})
    job = shared.assert_enqueued(handler="mail", payload={"meta": {"lang": "en"}})
    assert job.payload["to"] == "ada"
    shared.assert_enqueued(handler="mail", count=2)
    shared.refute_enqueued(handler="mail", payload={"to": "cy"})
    shared.refute_enqueued(handler="mail", schedule="no-such-schedule")
    assert [j.payload["to"] for j in shared.all_enqueued(handler="mail")] == ["ada", "bob"]
    with pytest.raises(AssertionError, match=r"found 0; enqueued: .*'handler': 'mail'"):
        shared.assert_enqueued(handler="mail", payload={"to": "cy"})
    with pytest.raises(AssertionError, match="expected no job enqueued matching handler='mail'"):
        shared.refute_enqueued(handler="mail")
    with pytest.raises(AssertionError, match="expected 3 job"):
        shared.assert_enqueued(handler="mail", count=3)


def test_advance_fires_an_hourly_schedule_without_sleeping(server):
    schedule = server.client.schedules.create(name="hourly", handler="report", interval="1h")
    server.refute_enqueued(handler="report")
    assert server.advance(minutes=59).fired == 0
    server.refute_enqueued(schedule="hourly")
    assert server.advance(minutes=1).fired == 1
    job = server.assert_enqueued(handler="report", schedule="hourly")
    assert job.schedule_id == schedule.id
    assert job.scheduled_for == START + timedelta(hours=1)
    server.assert_enqueued(schedule=schedule.id, scheduled_for=START + timedelta(hours=1))
    # The default concurrency policy (forbid) skips a slot while the last job waits...
    assert server.advance(hours=1).skipped == 1
    server.drain({"report": lambda ctx: "done"})
    assert server.advance(hours=1).fired == 1  # ... and fires once it has run
    server.assert_enqueued(schedule="hourly", scheduled_for=START + timedelta(hours=3))


def test_freeze_sets_the_clock_and_tick_runs_the_round(server):
    server.client.schedules.create(name="nightly", handler="n", cron="0 2 * * *")
    server.freeze("2026-03-03T02:00:00Z")
    assert server.now() == datetime(2026, 3, 3, 2, tzinfo=UTC)
    server.refute_enqueued(handler="n")  # freeze alone runs nothing
    assert server.tick().fired == 1
    server.assert_enqueued(handler="n", scheduled_for=datetime(2026, 3, 3, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        server.freeze(datetime(2026, 3, 3))
    with pytest.raises(ValueError, match="forward"):
        server.advance(-1)


def test_delayed_jobs_are_admitted_when_their_time_comes(server):
    job = server.client.jobs.create(handler="later", delay="10m")
    assert server.assert_enqueued(handler="later").status == "pending"
    assert server.drain({"later": lambda ctx: None}).ran == 0  # not claimable yet
    assert server.advance(minutes=10).admitted == 1
    assert server.client.jobs.get(job.id).status == "ready"


def test_drain_runs_jobs_with_outcomes_and_retries_with_scheduled(server):
    calls: list[int] = []

    def flaky(ctx):
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError("not yet")
        return {"attempt": ctx.attempt}

    async def fatal(ctx):
        raise NonRetryable("bad input")

    def enqueue_more(ctx):
        server.client.jobs.create(handler="fatal", payload={})  # a job enqueued by a job

    flaky_job = server.client.jobs.create(handler="flaky", max_retries=5)
    server.client.jobs.create(handler="spawn")
    first = server.drain({"flaky": flaky, "fatal": fatal, "spawn": enqueue_more})
    assert (first.completed, first.failed, first.retried) == (1, 1, 1)
    again = server.drain({"flaky": flaky}, with_scheduled=True)  # moves the clock to retries
    assert (again.completed, again.retried) == (1, 1)
    assert calls == [1, 2, 3]
    finished = server.client.jobs.get(flaky_job.id)
    assert (finished.status, finished.result) == ("completed", {"attempt": 3})
    assert server.now() > START


def test_drain_counts_the_last_failed_attempt_as_failed(server):
    server.client.jobs.create(handler="doomed", max_retries=1)
    result = server.drain({"doomed": lambda ctx: 1 / 0}, with_scheduled=True)
    assert (result.retried, result.failed) == (1, 1)
    assert server.client.jobs.list(handler="doomed").data[0].status == "failed"


def test_advance_past_a_lease_times_out_a_claimed_job(server):
    job = server.client.jobs.create(handler="stuck", timeout="30s", max_retries=0)
    server._claim(["stuck"], 1)  # claimed by a worker that then vanished
    assert server.advance(seconds=29).timed_out == 0
    assert server.advance(seconds=2).timed_out == 1
    assert server.client.jobs.get(job.id).status == "failed"


def test_a_real_worker_runs_against_the_embedded_server(server):
    client = server.client
    done = threading.Event()

    @client.worker.handle("real")
    async def real(ctx):
        done.set()
        return ctx.payload

    thread = threading.Thread(target=lambda: asyncio.run(client.worker.run()), daemon=True)
    thread.start()
    try:
        job = client.jobs.create(handler="real")  # no payload: the handler gets {}
        assert done.wait(10)
        deadline = time.monotonic() + 10
        while client.jobs.get(job.id).status != "completed" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.jobs.get(job.id).result == {}
    finally:
        client.worker.stop()
        thread.join(30)


def test_the_example_test_file_and_the_pytest_plugin_entry_point(tmp_path):
    """examples/test_example.py passes; and with pyproject's ``pytest11`` entry point installed
    (as pip installs it), a test asks for ``chronos_server`` with no import, while
    ``pytest_plugins`` naming the plugin too does not load it twice."""
    import tomllib

    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    (name, target), *_ = entry_points["pytest11"].items()
    installed = tmp_path / "site" / "chronos_scheduler-0.dist-info"
    installed.mkdir(parents=True)
    (installed / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: chronos-scheduler\nVersion: 0\n"
    )
    (installed / "entry_points.txt").write_text(f"[pytest11]\n{name} = {target}\n")
    user_test = tmp_path / "user" / "test_user.py"
    user_test.parent.mkdir()
    user_test.write_text(
        "def test_enqueue(chronos_server):\n"
        '    chronos_server.client.jobs.create(handler="x")\n'
        '    chronos_server.assert_enqueued(handler="x")\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    tests = ["examples/test_example.py", str(user_test)]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout


def test_the_fixture_is_importable_from_chronos_testing():
    from chronos.testing import chronos_server
    from chronos.testing.pytest_plugin import chronos_server as registered

    assert chronos_server is registered


async def test_the_embedded_server_works_from_an_async_test(server):
    async with AsyncChronos(api_key=server.api_key, base_url=server.url) as client:
        await client.schedules.create(name="async-hourly", handler="a", interval="1h")
        assert server.advance(hours=1).fired == 1  # sync helpers, inside the test's loop
        job = server.assert_enqueued(handler="a")
        assert (await client.jobs.get(job.id)).status == "ready"

    async def handler(ctx):
        return ctx.job["name"]

    assert server.drain({"a": handler}).completed == 1
