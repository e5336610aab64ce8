"""The Python SDK against a real ``chronos serve``: clients, worker, webhooks, CLI, examples."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chronos import (
    AsyncChronos,
    Chronos,
    ConflictError,
    ConnectionFailed,
    NonRetryable,
    NotFoundError,
    ValidationError,
)
from chronos.models import Job, Schedule
from tests.e2e.server import ChronosServer
from tests.endpoint import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("sdk")
    node = ChronosServer(f"sqlite:///{directory}/sdk.db", directory)
    node.start()
    yield node
    node.stop()


@pytest.fixture
def chronos(server: ChronosServer) -> Iterator[Chronos]:
    with Chronos(api_key=server.api_key, base_url=server.url) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_client_reads_url_and_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("CHRONOS_URL", server.url)
    monkeypatch.setenv("CHRONOS_API_KEY", server.api_key)
    with Chronos() as client:
        assert isinstance(client.jobs.list(limit=1).data, list)
    monkeypatch.delenv("CHRONOS_API_KEY")
    with pytest.raises(Exception, match="CHRONOS_API_KEY"):
        Chronos()


def test_schedules_resource_round_trip(chronos):
    name = unique("sdk")
    created = chronos.schedules.create(
        name=name, handler="h", cron="0 * * * *", tags={"team": "sdk"}
    )
    assert isinstance(created, Schedule)
    assert (created.name, created.state, created.version) == (name, "enabled", 1)
    assert chronos.schedules.get(name).id == created.id
    assert name in [s.name for s in chronos.schedules.list(tags={"team": "sdk"}).data]
    updated = chronos.schedules.update(name, cron="30 * * * *")
    assert (updated.cron, updated.version) == ("30 * * * *", 2)
    same = {"handler": "h", "cron": "30 * * * *", "tags": {"team": "sdk"}}
    assert chronos.schedules.upsert(name, **same).version == 2  # unchanged: no new version
    assert chronos.schedules.pause(name).state == "paused"
    assert chronos.schedules.resume(name).state == "enabled"
    assert len(chronos.schedules.upcoming(name, count=3)) == 3
    job = chronos.schedules.trigger(name)
    assert isinstance(job, Job) and job.trigger == "manual"
    chronos.schedules.delete(name)
    with pytest.raises(NotFoundError) as missing:
        chronos.schedules.get(name)
    assert missing.value.code == "not_found"


def test_jobs_resource_and_typed_errors(chronos):
    key = unique("idem")
    job = chronos.jobs.create(
        handler="sdk-h", payload={"n": 1}, idempotency_key=key, delay={"value": 1, "unit": "hour"}
    )
    assert (job.status, job.payload) == ("pending", {"n": 1})
    with pytest.raises(ConflictError) as conflict:
        chronos.jobs.create(handler="sdk-h", idempotency_key=key)
    assert conflict.value.code == "idempotency_key_conflict"
    with pytest.raises(ValidationError) as invalid:
        chronos.jobs.create(handler="sdk-h", delay="whenever")
    assert invalid.value.status == 422
    assert chronos.jobs.get(job.id).executions == []
    assert job.id in [j.id for j in chronos.jobs.list(schedule_id="null", limit=500).data]
    assert chronos.jobs.cancel(job.id).status == "canceled"
    assert chronos.jobs.retry(job.id).status == "ready"
    assert chronos.jobs.cancel(job.id).status == "canceled"


def test_connection_errors_are_typed():
    with (
        Chronos(api_key="chrns_x", base_url=f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(ConnectionFailed),
    ):
        client.jobs.list()


def test_async_client_shares_the_resources(server):
    async def scenario() -> tuple[Any, Any]:
        async with AsyncChronos(api_key=server.api_key, base_url=server.url) as client:
            job = await client.jobs.create(handler="async-h", payload={"a": 1})
            fetched = await client.jobs.get(job.id)
            try:
                await client.jobs.get("job_missing")
            except NotFoundError as exc:
                return fetched, exc
        return None, None

    fetched, error = asyncio.run(scenario())
    assert fetched.payload == {"a": 1}
    assert error.code == "not_found"


def test_schedule_update_and_rollback_send_a_reason(server, chronos):
    """``reason=`` on ``update`` and ``rollback`` (sync and async) is the audit log's."""
    chronos.schedules.create(name="why", handler="h", cron="0 2 * * *")
    chronos.schedules.update("why", cron="0 3 * * *", reason="sync update")

    async def scenario() -> Schedule:
        async with AsyncChronos(api_key=server.api_key, base_url=server.url) as client:
            await client.schedules.update("why", cron="0 4 * * *", reason="async update")
            return await client.schedules.rollback("why", 1, reason="async rollback")

    assert asyncio.run(scenario()).cron == "0 2 * * *"
    chronos.schedules.rollback("why", 2, reason="sync rollback")
    reasons = {r.reason for r in chronos.audit.list(resource="why", limit=50).data}
    assert {"sync update", "async update", "async rollback", "sync rollback"} <= reasons


def run_worker(client: Chronos, **options: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: asyncio.run(client.worker.run(**options)), daemon=True)
    thread.start()
    return thread


def test_worker_runs_async_and_sync_handlers_and_reports_outcomes(server):
    client = Chronos(api_key=server.api_key, base_url=server.url)
    handler = unique("w")

    @client.worker.handle(handler + "-async")
    async def async_handler(ctx):
        return {"doubled": ctx.payload["n"] * 2, "attempt": ctx.attempt}

    @client.worker.handle(handler + "-sync")
    def sync_handler(ctx):
        if ctx.payload.get("fatal"):
            raise NonRetryable("cannot do this")
        raise KeyError("flaky")

    thread = run_worker(client, concurrency=2)
    try:
        ok = client.jobs.create(handler=handler + "-async", payload={"n": 21})
        fatal = client.jobs.create(handler=handler + "-sync", payload={"fatal": True})
        flaky = client.jobs.create(handler=handler + "-sync", payload={}, max_retries=0)
        done = wait_for(
            lambda: all(
                client.jobs.get(j.id).status in ("completed", "failed") for j in (ok, fatal, flaky)
            )
        )
        assert done
        assert client.jobs.get(ok.id).result == {"doubled": 42, "attempt": 1}
        fatal_job = client.jobs.get(fatal.id)
        assert (fatal_job.status, fatal_job.last_error["type"]) == ("failed", "NonRetryable")
        assert len(fatal_job.executions) == 1
        flaky_error = client.jobs.get(flaky.id).last_error
        assert flaky_error["type"] == "KeyError" and "Traceback" in flaky_error["traceback"]
    finally:
        client.worker.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_worker_concurrency_runs_jobs_at_once(server):
    client = Chronos(api_key=server.api_key, base_url=server.url)
    handler = unique("parallel")
    started: list[str] = []
    all_started = asyncio.Event()

    @client.worker.handle(handler)
    async def together(ctx):
        started.append(ctx.job_id)
        if len(started) == 3:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 10)  # only passes if 3 run at once
        return "ok"

    jobs = [client.jobs.create(handler=handler) for _ in range(3)]
    thread = run_worker(client, concurrency=3)
    try:
        wait_for(lambda: all(client.jobs.get(j.id).status == "completed" for j in jobs))
    finally:
        client.worker.stop()
        thread.join(30)


def test_heartbeats_keep_a_long_handler_alive_and_cancel_reaches_it(server):
    client = Chronos(api_key=server.api_key, base_url=server.url)
    handler = unique("long")
    seen: dict[str, Any] = {}

    @client.worker.handle(handler)
    async def long_running(ctx):
        if ctx.payload.get("cancel_me"):
            seen["cancel_job"] = ctx.job_id
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                seen["cancelled"] = ctx.cancel_requested
                raise
        await asyncio.sleep(3.5)  # longer than the 2 s lease: heartbeats must extend it
        return "survived"

    thread = run_worker(client, concurrency=2)
    try:
        long_job = client.jobs.create(handler=handler, timeout=2, payload={})
        doomed = client.jobs.create(handler=handler, timeout=3, payload={"cancel_me": True})
        wait_for(lambda: seen.get("cancel_job"))
        client.jobs.cancel(doomed.id)
        wait_for(lambda: "cancelled" in seen)
        assert seen["cancelled"] is True
        finished = wait_for(lambda: (j := client.jobs.get(long_job.id)).status == "completed" and j)
        assert finished.result == "survived"
        assert [e.status for e in finished.executions] == ["completed"]
    finally:
        client.worker.stop()
        thread.join(30)


def test_worker_waits_for_the_server_and_recovers(tmp_path):
    node = ChronosServer(f"sqlite:///{tmp_path}/late.db", tmp_path)
    client = Chronos(api_key=node.api_key, base_url=node.url)

    @client.worker.handle("late")
    async def late(ctx):
        return "done"

    thread = run_worker(client)  # the server is not up yet: the worker backs off, no crash
    try:
        time.sleep(1.5)
        assert thread.is_alive()
        node.start()
        job = client.jobs.create(handler="late")
        wait_for(lambda: client.jobs.get(job.id).status == "completed")
        node.kill()  # a server crash mid-life: the worker keeps going
        time.sleep(0.5)
        node.start()
        again = client.jobs.create(handler="late")
        wait_for(lambda: client.jobs.get(again.id).status == "completed", timeout=30)
    finally:
        client.worker.stop()
        thread.join(30)
        node.stop()


def cli(server: ChronosServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHRONOS_URL": server.url, "CHRONOS_API_KEY": server.api_key}
    return subprocess.run(
        [sys.executable, "-m", "chronos", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_cli_client_commands(server, chronos):
    name = unique("cli")
    created = cli(
        server,
        "schedules",
        "create",
        name,
        "--handler",
        "cli-h",
        "--every",
        "1h",
        "--tag",
        "team=cli",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["interval"] == {"value": 1, "unit": "hour"}
    listed = json.loads(cli(server, "schedules", "list", "--tag", "team=cli", "--json").stdout)
    assert [s["name"] for s in listed] == [name]
    table = cli(server, "schedules", "list")
    assert table.returncode == 0 and name[:10] in table.stdout
    assert "paused" in cli(server, "schedules", "pause", name).stdout
    assert "enabled" in cli(server, "schedules", "resume", name).stdout
    assert (
        len(json.loads(cli(server, "schedules", "upcoming", name, "--count", "3", "--json").stdout))
        == 3
    )
    assert json.loads(cli(server, "schedules", "show", name, "--json").stdout)["name"] == name
    triggered = cli(server, "schedules", "trigger", name, "--json")
    job_id = json.loads(triggered.stdout)["id"]
    assert cli(server, "jobs", "show", job_id).returncode == 0
    assert "canceled" in cli(server, "jobs", "cancel", job_id).stdout
    assert "ready" in cli(server, "jobs", "retry", job_id).stdout
    jobs = json.loads(cli(server, "jobs", "list", "--handler", "cli-h", "--json").stdout)
    assert [j["id"] for j in jobs] == [job_id]
    missing = cli(server, "jobs", "show", "job_missing")
    assert missing.returncode == 1 and "not_found" in missing.stderr
    chronos.jobs.cancel(job_id)
    execution = chronos.jobs.get(job_id).executions
    assert execution == []  # never ran; executions show is covered below
    assert cli(server, "executions", "show", "exe_missing").returncode == 1


def test_examples_worker_declare_and_sigterm(server, chronos):
    env = {
        **os.environ,
        "CHRONOS_URL": server.url,
        "CHRONOS_API_KEY": server.api_key,
        "PYTHONPATH": str(ROOT),
    }
    declared = [
        subprocess.run(
            [sys.executable, "examples/declare_schedules.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert all(d.returncode == 0 for d in declared), declared[0].stderr
    assert "version 1" in declared[1].stdout and "version 2" not in declared[1].stdout
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chronos",
            "worker",
            "examples.worker:chronos",
            "--concurrency",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sync = chronos.jobs.create(handler="sync-tenant", payload={"tenants": ["a", "b"]})
        charge = chronos.jobs.create(handler="charge-invoice", payload={})
        wait_for(
            lambda: (
                chronos.jobs.get(sync.id).status == "completed"
                and chronos.jobs.get(charge.id).status == "failed"
            )
        )
        assert chronos.jobs.get(sync.id).result == {"synced": 2, "attempt": 1}
        execution = chronos.jobs.get(charge.id).executions[0]
        shown = cli(server, "executions", "show", execution.id, "--json")
        assert json.loads(shown.stdout)["error"]["type"] == "NonRetryable"
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output


@pytest.mark.parametrize(("use_real_secret", "expected"), [(True, "completed"), (False, "failed")])
def test_example_push_receiver_verifies_signatures(server, chronos, use_real_secret, expected):
    import httpx

    secret = httpx.get(
        f"{server.url}/v1/signing-secrets", headers={"Authorization": f"Bearer {server.api_key}"}
    ).json()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CHRONOS_SIGNING_SECRET": secret["data"][0]["secret"]
        if use_real_secret
        else "whsec_forged",
    }
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "examples.push_receiver:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/docs"))
        job = chronos.jobs.create(
            payload={"event": "subscription.created"},
            delivery={"type": "push", "http": {"url": f"http://127.0.0.1:{port}/hooks/chronos"}},
        )
        finished = wait_for(
            lambda: (j := chronos.jobs.get(job.id)).status in ("completed", "failed") and j
        )
        assert finished.status == expected
        assert finished.executions[0].http_status == (200 if use_real_secret else 401)
    finally:
        receiver.terminate()
        receiver.wait(15)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
