"""Tracing configured only by the standard ``OTEL_*`` variables, in real processes: a
``chronos serve`` and a ``chronos worker`` with ``OTEL_TRACES_EXPORTER=console`` print their
spans, and one job's spans (create, claim, handler, result) share the caller's trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
OTEL_ENV = {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"}
WORKER_APP = """
from pathlib import Path

from chronos import Chronos

chronos = Chronos()


@chronos.worker.handle("traced")
def traced(ctx):
    Path("seen.txt").write_text(ctx.traceparent or "")
    return {"ok": True}
"""


def spans_in(text: str) -> list[dict[str, Any]]:
    """The spans a console exporter printed (indented JSON objects) among other output."""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while (start := text.find("{\n", position)) != -1:
        try:
            value, position = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        if isinstance(value, dict) and "context" in value and "name" in value:
            found.append(value)
    return found


def wait_for(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_otel_environment_traces_a_job_across_server_and_worker(tmp_path):
    server = ChronosServer(f"sqlite:///{tmp_path}/traced.db", tmp_path, env=OTEL_ENV)
    server.start()
    (tmp_path / "tracedapp.py").write_text(WORKER_APP)
    worker = subprocess.Popen(
        [sys.executable, "-m", "chronos", "worker", "tracedapp:chronos"],
        cwd=tmp_path,
        env={
            **os.environ,
            "CHRONOS_URL": server.url,
            "CHRONOS_API_KEY": server.api_key,
            "PYTHONPATH": str(ROOT),
            **OTEL_ENV,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        with server.client() as http:
            response = http.post(
                "/v1/jobs", json={"handler": "traced"}, headers={"traceparent": CALLER}
            )
            assert response.status_code == 201, response.text
            job_id = response.json()["id"]
            wait_for(lambda: http.get(f"/v1/jobs/{job_id}").json()["status"] == "completed")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker_output = worker.communicate(timeout=30)[0]
        server.stop()

    server_spans = {s["name"]: s for s in spans_in(server.log())}
    worker_spans = {s["name"]: s for s in spans_in(worker_output)}
    create = server_spans["chronos.job.create"]
    handler = worker_spans["chronos.handler"]
    assert create["parent_id"] == "0x00f067aa0ba902b7"  # the caller's span
    for span in (create, server_spans["chronos.job.claim"], server_spans["chronos.job.result"]):
        assert span["context"]["trace_id"] == f"0x{TRACE_ID}", span
        assert span["resource"]["attributes"]["service.name"] == "chronos"
    assert handler["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert handler["parent_id"] == create["context"]["span_id"]
    assert handler["resource"]["attributes"]["service.name"] == "chronos-worker"
    assert (tmp_path / "seen.txt").read_text().split("-")[1:3] == [
        TRACE_ID,
        create["context"]["span_id"].removeprefix("0x"),
    ]


def test_without_otel_variables_the_server_prints_no_spans(tmp_path):
    server = ChronosServer(f"sqlite:///{tmp_path}/plain.db", tmp_path)
    server.start()
    try:
        with server.client() as http:
            headers = {"traceparent": CALLER}
            response = http.post("/v1/jobs", json={"handler": "h"}, headers=headers)
            assert response.status_code == 201
            claimed = http.post(
                "/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0}
            ).json()["jobs"]
            assert claimed[0]["traceparent"] is None
    finally:
        server.stop()
    assert spans_in(server.log()) == []
