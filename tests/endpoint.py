"""A real HTTP endpoint on loopback for push tests: each path answers as the test says."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """``endpoint.route("/ok", lambda r: Response(status_code=200))``, then push to
    ``endpoint.url("/ok")``; ``endpoint.received`` lists what arrived."""

    port: int
    routes: dict[str, Handler] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Handler | int) -> None:
        if isinstance(handler, int):
            status = handler

            async def answer(_: Request) -> Response:
                return Response(b'{"ok": true}', status_code=status)

            self.routes[path] = answer
        else:
            self.routes[path] = handler

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        self.received.append(
            Received(request.method, request.url.path, dict(request.headers), body)
        )
        handler = self.routes.get(request.url.path)
        try:
            response = await handler(request) if handler else Response(status_code=404)
        except asyncio.CancelledError:
            self.disconnected.append(request.url.path)
            raise
        await response(scope, receive, send)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_endpoint() -> tuple[Endpoint, uvicorn.Server, asyncio.Task[None]]:
    endpoint = Endpoint(free_port())
    config = uvicorn.Config(
        endpoint, host="127.0.0.1", port=endpoint.port, log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the test endpoint did not start"
    return endpoint, server, task
