"""The SDK worker says what it did: a startup line, one line per job, no HTTP chatter, JSON on
request; and handlers get ``{}`` when a job carries no payload. Real ``chronos serve``, real
``chronos worker`` / ``python examples/worker.py`` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chronos import Chronos
from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
WORKER_APP = """
from chronos import Chronos, NonRetryable

chronos = Chronos()


@chronos.worker.handle("log-ok")
async def ok(ctx):
    return {"keys": sorted(ctx.payload)}  # ctx.payload is {} when none was sent


@chronos.worker.handle("log-fatal")
def fatal(ctx):
    raise NonRetryable("bad input")


@chronos.worker.handle("log-flaky")
def flaky(ctx):
    raise RuntimeError("try again")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChronosServer]:
    directory = tmp_path_factory.mktemp("worker-logs")
    node = ChronosServer(f"sqlite:///{directory}/logs.db", directory)
    node.start()
    yield node
    node.stop()


@pytest.fixture
def chronos(server: ChronosServer) -> Iterator[Chronos]:
    with Chronos(api_key=server.api_key, base_url=server.url) as client:
        yield client


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def start_worker(server: ChronosServer, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    (tmp_path / "logapp.py").write_text(WORKER_APP)
    return subprocess.Popen(
        [sys.executable, "-m", "chronos", "worker", "logapp:chronos", *args],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_LOG")},
            "CHRONOS_URL": server.url,
            "CHRONOS_API_KEY": server.api_key,
            "PYTHONPATH": str(ROOT),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(worker: subprocess.Popen) -> str:
    """SIGTERM, then everything the worker wrote (a job is logged before its result is sent,
    so once a job is seen finished its line is in the output)."""
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    return output


def run_three_jobs(chronos: Chronos) -> dict[str, str]:
    name = f"no-payload-{time.monotonic_ns()}"
    schedule = chronos.schedules.create(name=name, handler="log-ok", interval="1d")
    ok = chronos.schedules.trigger(schedule.name)  # a schedule with no payload
    fatal = chronos.jobs.create(handler="log-fatal", payload={"a": 1})
    flaky = chronos.jobs.create(handler="log-flaky", max_retries=1)
    wait_for(lambda: chronos.jobs.get(ok.id).status == "completed")
    wait_for(lambda: chronos.jobs.get(fatal.id).status == "failed")
    wait_for(lambda: any(e.status == "failed" for e in chronos.jobs.get(flaky.id).executions))
    assert chronos.jobs.get(ok.id).result == {"keys": []}
    return {"ok": ok.id, "fatal": fatal.id, "flaky": flaky.id}


def test_chronos_worker_logs_one_line_per_job_and_no_http_chatter(server, chronos, tmp_path):
    worker = start_worker(server, tmp_path, "--concurrency", "2")
    try:
        ids = run_three_jobs(chronos)
    finally:
        output = stop(worker)
    lines = output.splitlines()
    startup = next(line for line in lines if "polling" in line)
    assert server.url in startup and "log-fatal, log-flaky, log-ok" in startup
    assert server.api_key not in output
    assert "HTTP Request" not in output and "httpx" not in output
    ok_line = next(line for line in lines if ids["ok"] in line)
    assert "log-ok" in ok_line and "attempt 1" in ok_line and " ok in " in ok_line
    assert " ms" in ok_line
    fatal_line = next(line for line in lines if ids["fatal"] in line)
    assert " failed in " in fatal_line and "NonRetryable: bad input" in fatal_line
    flaky_line = next(line for line in lines if ids["flaky"] in line)
    assert " retry in " in flaky_line and "RuntimeError: try again" in flaky_line


def test_chronos_worker_json_logs_one_object_per_line(server, chronos, tmp_path):
    worker = start_worker(server, tmp_path, "--log-format", "json")
    try:
        ids = run_three_jobs(chronos)
    finally:
        output = stop(worker)
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    by_job = {r["job_id"]: r for r in records if "job_id" in r}
    assert by_job[ids["ok"]]["outcome"] == "ok"
    assert by_job[ids["ok"]]["handler"] == "log-ok" and by_job[ids["ok"]]["attempt"] == 1
    assert isinstance(by_job[ids["ok"]]["duration_ms"], float)
    assert by_job[ids["fatal"]]["outcome"] == "failed"
    assert by_job[ids["flaky"]]["outcome"] == "retry"
    startup = next(r for r in records if "handlers" in r)
    assert startup["url"] == server.url and startup["handlers"] == [
        "log-fatal",
        "log-flaky",
        "log-ok",
    ]


def test_log_level_from_the_environment_and_debug_shows_http_requests(server, chronos, tmp_path):
    quiet = start_worker(server, tmp_path, CHRONOS_LOG_LEVEL="warning")
    try:
        job = chronos.jobs.create(handler="log-ok")
        wait_for(lambda: chronos.jobs.get(job.id).status == "completed")
    finally:
        output = stop(quiet)
    assert job.id not in output and "polling" not in output  # info lines are below warning
    loud = start_worker(server, tmp_path, "--log-level", "debug")
    try:
        job = chronos.jobs.create(handler="log-ok")
        wait_for(lambda: chronos.jobs.get(job.id).status == "completed")
    finally:
        output = stop(loud)
    assert job.id in output and "/v1/worker/jobs/claim" in output
    bad = start_worker(server, tmp_path, "--log-format", "xml")
    assert bad.wait(30) == 2


def test_examples_worker_py_logs_its_jobs(server, chronos):
    worker = subprocess.Popen(
        [sys.executable, "examples/worker.py"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_LOG")},
            "CHRONOS_URL": server.url,
            "CHRONOS_API_KEY": server.api_key,
            "PYTHONPATH": str(ROOT),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        job = chronos.jobs.create(handler="sync-tenant")  # no payload: {} in the handler
        wait_for(lambda: chronos.jobs.get(job.id).status == "completed")
        assert chronos.jobs.get(job.id).result == {"synced": 0, "attempt": 1}
    finally:
        output = stop(worker)
    assert "polling" in output
    assert any(
        job.id in line and "sync-tenant" in line and " ok in " in line
        for line in output.splitlines()
    )
