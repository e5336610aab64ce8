"""Kill -9 a node in the middle of a push request: the job is delivered again after restart."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


def test_push_in_flight_at_sigkill_is_retried_after_restart(
    pg_database, servers, tmp_path, endpoint
):
    attempts: list[str] = []

    async def first_hangs(request: Request) -> Response:
        attempts.append(request.headers["x-chronos-attempt"])
        if len(attempts) == 1:  # the first attempt never answers: the node dies meanwhile
            for _ in range(3000):
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.01)
        return Response(status_code=200)

    endpoint.route("/hook", first_hangs)
    server = ChronosServer(pg_database, tmp_path)
    servers.append(server)
    server.start()
    with server.client() as http:
        job = http.post(
            "/v1/jobs",
            json={
                "delivery": {"type": "push", "http": {"url": endpoint.url("/hook")}},
                "timeout": 2,
            },
        ).json()
        deadline = time.monotonic() + 10
        while not attempts and time.monotonic() < deadline:
            time.sleep(0.02)
        assert attempts == ["1"], "the first request never reached the endpoint"
    server.kill()
    server.start()
    with server.client() as http:
        # The lease is the timeout (2 s) plus the dispatcher's margin (10 s).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            detail = http.get(f"/v1/jobs/{job['id']}").json()
            if detail["status"] == "completed":
                break
            time.sleep(0.1)
    assert detail["status"] == "completed", detail
    assert [e["status"] for e in detail["executions"]] == ["timeout", "completed"]
    assert attempts == ["1", "2"]
