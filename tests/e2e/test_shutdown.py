"""SIGTERM on a real ``chronos serve``: open long-polls are answered at once, in-flight push
requests finish within the grace period (or are released for another node), the process exits
0 and a routine shutdown logs no error."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.e2e.server import ChronosServer

pytestmark = pytest.mark.e2e


def wait_for(predicate: Callable[[], bool], message: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)


def last_start_log(server: ChronosServer) -> str:
    """The output of the server's latest start (stdout and stderr)."""
    return server.log().rsplit(f"--- start #{server.starts} ---", 1)[-1]


def send_sigterm(server: ChronosServer) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)


def exit_code(server: ChronosServer, timeout: float = 20.0) -> int:
    assert server.process is not None
    return server.process.wait(timeout)


def assert_clean_log(output: str) -> None:
    assert "Traceback" not in output, output
    assert "ERROR" not in output, output


def _server_has_read(server_port: int, client_port: int) -> bool:
    """True once the server's end of this loopback connection has read everything sent."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            rx_queue = int(fields[4].split(":")[1], 16)
            return fields[3] == "01" and rx_queue == 0  # ESTABLISHED, nothing left unread
    return False


class LongPoll:
    """A claim long-poll on its own socket, so the test knows when the server has read it."""

    def __init__(self, server: ChronosServer, wait_seconds: float) -> None:
        body = json.dumps(
            {"handlers": ["shutdown-e2e"], "wait_seconds": wait_seconds, "limit": 5}
        ).encode()
        request = (
            "POST /v1/worker/jobs/claim HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.api_key}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + body
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.server_port = server.port
        self.sock.sendall(request)

    def received_by_server(self) -> bool:
        return _server_has_read(self.server_port, self.sock.getsockname()[1])

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        self.sock.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines)
        }
        return int(status_line.split()[1]), headers, body


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shutdown.db"
    return request.getfixturevalue("pg_database")


def test_sigterm_answers_open_long_polls_at_once_and_exits_0(database_url, servers, tmp_path):
    server = ChronosServer(database_url, tmp_path, env={"CHRONOS_LOG_LEVEL": "info"})
    servers.append(server)
    server.start()
    polls = [LongPoll(server, wait_seconds=20) for _ in range(3)]
    wait_for(
        lambda: all(poll.received_by_server() for poll in polls),
        "the server never read the long-poll requests",
    )
    signaled = time.monotonic()
    send_sigterm(server)
    for poll in polls:
        status, headers, body = poll.answer()
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"jobs": []}
    assert time.monotonic() - signaled < 2.0, "the long-polls were not answered promptly"
    assert exit_code(server) == 0, last_start_log(server)
    output = last_start_log(server)
    assert_clean_log(output)
    assert "shutting down: 0 push requests finished, 0 released" in output


def _push_job(server: ChronosServer, url: str, *, timeout: float) -> dict[str, Any]:
    with server.client() as http:
        response = http.post(
            "/v1/jobs",
            json={"delivery": {"type": "push", "http": {"url": url}}, "timeout": timeout},
        )
        response.raise_for_status()
        return response.json()


def _job(server: ChronosServer, job_id: str) -> dict[str, Any]:
    with server.client() as http:
        return http.get(f"/v1/jobs/{job_id}").json()


def _refuses_connections(server: ChronosServer) -> bool:
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_a_push_in_flight_at_sigterm_finishes_within_the_grace_and_is_recorded(
    pg_database, servers, tmp_path, endpoint
):
    attempts: list[str] = []
    answer = threading.Event()

    async def slow(request: Request) -> Response:
        attempts.append(request.headers["x-chronos-attempt"])
        # Answers only once the node is shutting down.
        assert await asyncio.to_thread(answer.wait, 30)
        return Response(b'{"ok": true}', status_code=200)

    endpoint.route("/slow", slow)
    server = ChronosServer(
        pg_database,
        tmp_path,
        env={"CHRONOS_LOG_LEVEL": "info", "CHRONOS_SHUTDOWN_GRACE": "20s"},
    )
    servers.append(server)
    server.start()
    job = _push_job(server, endpoint.url("/slow"), timeout=30)
    wait_for(lambda: attempts == ["1"], "the push request never reached the endpoint")

    send_sigterm(server)
    # The node has begun its shutdown once it stops accepting connections.
    wait_for(lambda: _refuses_connections(server), "the node never began shutting down")
    answer.set()
    assert exit_code(server) == 0, last_start_log(server)
    output = last_start_log(server)
    assert_clean_log(output)
    assert "shutting down: 1 push requests finished, 0 released" in output

    server.start()
    detail = _job(server, job["id"])
    assert detail["status"] == "completed", detail
    assert [e["status"] for e in detail["executions"]] == ["completed"]
    assert attempts == ["1"]


def test_a_push_unfinished_after_the_grace_is_released_and_delivered_by_another_node(
    pg_database, servers, tmp_path, endpoint
):
    attempts: list[str] = []

    async def first_hangs(request: Request) -> Response:
        attempts.append(request.headers["x-chronos-attempt"])
        if len(attempts) == 1:  # the first attempt outlasts the grace period
            for _ in range(6000):
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.01)
        return Response(b'{"ok": true}', status_code=200)

    endpoint.route("/hook", first_hangs)
    node = ChronosServer(
        pg_database,
        tmp_path,
        env={"CHRONOS_LOG_LEVEL": "info", "CHRONOS_SHUTDOWN_GRACE": "1s"},
    )
    servers.append(node)
    node.start()
    # A long timeout: the lease (timeout + 10 s) would hold the job for 70 s.
    job = _push_job(node, endpoint.url("/hook"), timeout=60)
    wait_for(lambda: attempts == ["1"], "the push request never reached the endpoint")

    signaled = time.monotonic()
    send_sigterm(node)
    assert exit_code(node) == 0, last_start_log(node)
    assert time.monotonic() - signaled < 10, "the grace period was not respected"
    output = last_start_log(node)
    assert_clean_log(output)
    assert "shutting down: 0 push requests finished, 1 released" in output

    # Released at once: queued again, its execution ended as released.
    api_only = ChronosServer(pg_database, tmp_path, api_key=node.api_key, roles="api")
    servers.append(api_only)
    api_only.start()
    detail = _job(api_only, job["id"])
    assert detail["status"] == "queued", detail
    [execution] = detail["executions"]
    assert execution["status"] == "canceled"
    assert execution["error"]["type"] == "released"

    # Another node delivers it well before the 70 s lease would have expired.
    other = ChronosServer(pg_database, tmp_path, api_key=node.api_key, roles="dispatcher")
    servers.append(other)
    other.start()
    wait_for(
        lambda: _job(api_only, job["id"])["status"] == "completed",
        "the released job was not delivered by the other node",
        timeout=15,
    )
    detail = _job(api_only, job["id"])
    assert [e["status"] for e in detail["executions"]] == ["canceled", "completed"]
    assert attempts == ["1", "2"]
