"""``GET /events``: server-sent events that tell a signed-in page what to refresh.

Each message names a topic (``jobs``, ``schedules``, ``workers``, ``monitors``, ``alerts``)
of the viewer's account; the page re-fetches the fragments that show it. Sources are the
node's own changes and, in a cluster, the other nodes' (``LISTEN/NOTIFY`` through the
notifier's bridge), coalesced by the notifier. A comment every :data:`KEEPALIVE_SECONDS`
keeps proxies from closing the stream; the stream ends when the node shuts down, and the page
falls back to polling every 2 s until it reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import StreamingResponse

from chronos.server.dashboard.auth import SessionDep, current_session
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.notifier import TOPICS
from chronos.server.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

KEEPALIVE_SECONDS = 15.0
MAX_QUEUED = 64


@router.get("/events")
async def events(request: Request, session: SessionDep) -> StreamingResponse:
    runtime: Runtime = request.app.state.runtime
    queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED)
    account_id = session.account_id

    def listener(changed_account: str, topic: str) -> None:
        if changed_account == account_id and topic in TOPICS and not queue.full():
            queue.put_nowait(topic)

    async def stream() -> AsyncIterator[str]:
        # The listener is added here, not before the response starts: a client gone before
        # the first chunk means the generator never runs, and its ``finally`` would never
        # remove a listener added outside it.
        shutting_down = runtime.notifier.shutting_down
        remove = runtime.notifier.on_change(listener)
        try:
            yield "retry: 1000\nevent: hello\ndata: {}\n\n"
            while not shutting_down.is_set():
                stop = asyncio.ensure_future(shutting_down.wait())
                get = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {stop, get}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                stop.cancel()
                # A deleted key or an expired session ends the stream before anything more is
                # sent (the page then polls, and its polls are sent to the login page).
                if await current_session(request) is None:
                    get.cancel()
                    return
                if get in done:
                    topics = {get.result()}
                    while not queue.empty():
                        topics.add(queue.get_nowait())
                    for topic in sorted(topics):
                        yield f"event: {topic}\ndata: {{}}\n\n"
                else:
                    get.cancel()
                    yield ": keep-alive\n\n"
        finally:
            remove()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
