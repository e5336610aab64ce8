"""The app's shape where it matters for speed: nothing on the request path runs in a thread."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from chronos.server.app import create_app
from chronos.server.runtime import Runtime


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None) or getattr(route, "router", None)
        if included is not None and hasattr(included, "routes"):
            yield from _routes(included.routes)


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def test_no_route_or_dependency_runs_in_the_thread_pool(runtime: Runtime) -> None:
    # FastAPI runs a plain ``def`` endpoint or dependency in a thread pool: a thread hop and a
    # GIL hand-off on every request, which showed up as milliseconds of pickup latency.
    app = create_app(runtime)
    routes = list(_routes(app.routes))
    assert len(routes) > 20  # every router was found
    sync = []
    for route in routes:
        for call in [route.dependant.call, *_calls(route.dependant)]:
            if call is not None and not inspect.iscoroutinefunction(call):
                sync.append(f"{route.path}: {getattr(call, '__qualname__', call)}")
    assert sync == []
