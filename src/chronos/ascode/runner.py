"""``apply`` and ``export`` as a sequence of API calls, written once for both clients.

The steps are a generator that yields each :class:`Request` and receives its answer (or has
the API error thrown in); :func:`drive` runs it with a client's ``_call``, sync or async::

    result = drive(apply_steps(declared, prune=True, dry_run=False), chronos._call)

1. list every schedule (``GET /v1/schedules``, all pages);
2. plan (``plan.compute_plan``): nothing is written if a declaration is malformed;
3. validate each create and update with the server (``POST /v1/schedules/preview``, which
   answers exactly the 4xx a write would): nothing is written if one is refused;
4. unless ``dry_run``: ``PUT /v1/schedules/{name}`` each create and update (idempotent
   upsert), then ``DELETE`` each pruned schedule.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from chronos.ascode.plan import (
    ApplyError,
    ApplyResult,
    Declared,
    Problem,
    compute_plan,
    export_body,
)
from chronos.errors import APIError, NotFoundError

PAGE_SIZE = 500


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)


Steps = Generator[Request, Any, Any]


def _schedule_path(name: str) -> str:
    return "/v1/schedules/" + quote(name, safe="")


def _message(exc: APIError) -> str:
    """The API's message, with a 422's field errors (``details``) spelled out."""
    details = exc.details
    if isinstance(details, list) and details and all(isinstance(d, dict) for d in details):
        parts = [
            f"{'.'.join(str(p) for p in d.get('loc', []) if p != 'body') or 'body'}: "
            f"{d.get('message', '')}"
            for d in details
        ]
        extra = [part for part in parts if part not in exc.message]
        return f"{exc.message} ({'; '.join(extra)})" if extra else exc.message
    return exc.message


def list_steps(tags: dict[str, str] | None = None) -> Steps:
    """Every schedule of the account (optionally with these tags), as the API returns it."""
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    params.update({f"tag.{k}": v for k, v in (tags or {}).items()})
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "cursor": cursor} if cursor else params
        page = yield Request("GET", "/v1/schedules", params=query)
        found.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def export_steps(tags: dict[str, str] | None = None) -> Steps:
    """The schedules as ``apply`` reads them (sorted by name)."""
    found = yield from list_steps(tags)
    return [export_body(raw) for raw in sorted(found, key=lambda s: s["name"])]


def _as_declared(schedules: Iterable[Declared | dict[str, Any]]) -> list[Declared]:
    return [
        item if isinstance(item, Declared) else Declared(item, f"schedules[{index}]")
        for index, item in enumerate(schedules)
    ]


def apply_steps(
    schedules: Iterable[Declared | dict[str, Any]], *, prune: bool = False, dry_run: bool = False
) -> Steps:
    declared = _as_declared(schedules)
    current = yield from list_steps()
    result = ApplyResult(compute_plan(declared, current, prune=prune), dry_run)
    problems: list[Problem] = []
    for item in result.items:
        if item.action not in ("create", "update"):
            continue
        try:
            preview = yield Request(
                "POST", "/v1/schedules/preview", json=item.body, params={"count": 1}
            )
        except APIError as exc:
            problems.append(Problem(item.source, item.name, _message(exc), exc.code))
            continue
        fires = preview.get("data") or []
        item.next_fire = fires[0] if fires else None
    if problems:
        raise ApplyError(problems, result)
    if dry_run:
        return result
    for item in result.items:
        try:
            if item.action in ("create", "update"):
                yield Request("PUT", _schedule_path(item.name), json=item.body)
            elif item.action == "delete":
                with contextlib.suppress(NotFoundError):  # deleted meanwhile: goal reached
                    yield Request("DELETE", _schedule_path(item.name))
            else:
                continue
        except APIError as exc:
            problems.append(Problem(item.source, item.name, _message(exc), exc.code))
            continue
        item.done = True
    if problems:
        raise ApplyError(problems, result)
    return result


def _sync(steps: Steps, call: Callable[..., Any]) -> Any:
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.throw(error) if error is not None else steps.send(answer)
        except StopIteration as stop:
            return stop.value
        answer, error = None, None
        try:
            answer = call(request.method, request.path, json=request.json, params=request.params)
        except APIError as exc:
            error = exc


async def _async(steps: Steps, call: Callable[..., Awaitable[Any]]) -> Any:
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.throw(error) if error is not None else steps.send(answer)
        except StopIteration as stop:
            return stop.value
        answer, error = None, None
        try:
            answer = await call(
                request.method, request.path, json=request.json, params=request.params
            )
        except APIError as exc:
            error = exc


def drive(steps: Steps, call: Callable[..., Any]) -> Any:
    """Run ``steps`` with a client's ``_call``: the result, or an awaitable of it when
    ``call`` is a coroutine function (``AsyncChronos``)."""
    if inspect.iscoroutinefunction(call):
        return _async(steps, call)
    return _sync(steps, call)
