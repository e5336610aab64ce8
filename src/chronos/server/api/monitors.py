"""/v1/monitors and /v1/ping: heartbeat monitors for work that runs outside Chronos.

Two routers. ``router`` is the JSON CRUD (admin keys). ``ping_router`` takes pings, whose
bodies may be anything (a job's log tail, ``curl -d``'s form encoding): with an API key at
``/v1/monitors/{monitor}/ping`` (``/start``, ``/fail``; admin and worker keys), or with no key
at the tokenised ``/v1/ping/{token}`` (GET, HEAD or POST), so that a crontab line needs only
``curl -fsS https://host/v1/ping/<token>``. An unknown token is a plain 404 that says nothing
about which monitors exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from chronos.server.api.deps import AccountId, ActorDep, Limit, RuntimeDep, tag_filters
from chronos.server.api.presenters import page_out
from chronos.server.api.responses import SafeJSONResponse, SafeRoute
from chronos.server.domain import monitors as rules
from chronos.server.domain.durations import format_seconds
from chronos.server.domain.monitors import MonitorRow, PingKind, PingRow
from chronos.server.domain.timing import iso
from chronos.server.errors import NotFound
from chronos.server.services.monitors import (
    MAX_RECENT_PINGS,
    RECENT_PINGS,
    MonitorIn,
    normalize_monitor,
)

router = APIRouter(prefix="/v1/monitors", tags=["monitors"], route_class=SafeRoute)
ping_router = APIRouter(tags=["monitors"], route_class=SafeRoute)

JSONBody = Annotated[Any, Body()]
ExitCode = Annotated[int | None, Query(ge=-(2**31), le=2**31 - 1)]
TOKEN_PING_PREFIX = "/v1/ping/"


def ping_urls(base_url: str, token: str) -> dict[str, str]:
    """The tokenised URLs of a monitor: a good ping, a run's start, a failure."""
    url = f"{base_url.rstrip('/')}{TOKEN_PING_PREFIX}{token}"
    return {"ok": url, "start": f"{url}/start", "fail": f"{url}/fail"}


def monitor_out(
    row: MonitorRow, now: datetime, *, base_url: str, with_token: bool = True
) -> dict[str, Any]:
    """A monitor as the API shows it: ``state`` is the one at ``now`` (``late`` included)."""
    problem = rules.monitor_problem(row, now)
    grace = row["grace_seconds"]
    runtime = row["max_runtime_seconds"]
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "tags": row["tags"],
        "cron": row["cron"],
        "interval": (
            format_seconds(row["interval_seconds"]) if row["interval_seconds"] is not None else None
        ),
        "timezone": row["timezone"],
        "grace": format_seconds(grace),
        "max_runtime": format_seconds(runtime) if runtime is not None else None,
        "enabled": row["state"] != rules.MonitorState.PAUSED,
        "state": rules.monitor_state(row, now).value,
        "problem": (
            {"kind": problem.kind, "since": iso(problem.since), "summary": problem.summary}
            if problem
            else None
        ),
        "expectation": rules.describe_expectation(row),
        "last_ping_at": iso(row["last_ping_at"]),
        "last_ping_kind": row["last_ping_kind"],
        "last_start_at": iso(row["last_start_at"]),
        "next_expected_at": iso(row["next_expected_at"]),
        "late_after": iso(rules.late_after(row)),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if with_token:
        out["ping_token"] = row["ping_token"]
        out["ping_urls"] = ping_urls(base_url, row["ping_token"])
    return out


def ping_out(ping: PingRow) -> dict[str, Any]:
    return {
        "id": ping["id"],
        "at": iso(ping["at"]),
        "kind": ping["kind"],
        "exit_code": ping["exit_code"],
        "body": ping["body"],
        "source_ip": ping["source_ip"],
    }


def _out(request: Request, runtime: Any, row: MonitorRow) -> dict[str, Any]:
    return monitor_out(row, runtime.clock.now(), base_url=str(request.base_url))


# --- CRUD -----------------------------------------------------------------------------------


@router.get("")
async def list_monitors(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The account's monitors, newest first; ``tag.KEY=VALUE`` filters by tag. Each one's
    ``state`` is as of now: ``new``, ``up``, ``late``, ``failed`` or ``paused``."""
    rows, next_cursor = await runtime.monitors.find(
        account_id, tags=tag_filters(request), cursor=cursor, limit=limit
    )
    return page_out([_out(request, runtime, r) for r in rows], next_cursor)


@router.post("", status_code=201)
async def create_monitor(
    request: Request, body: MonitorIn, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A new monitor; the answer holds its ``ping_token`` and ``ping_urls``."""
    spec = normalize_monitor(body)
    return _out(request, runtime, await runtime.monitors.create(account_id, spec, actor=actor))


@router.get("/{monitor}")
async def get_monitor(
    request: Request,
    monitor: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    pings: Annotated[int, Query(ge=0, le=MAX_RECENT_PINGS)] = RECENT_PINGS,
) -> dict[str, Any]:
    """A monitor by id or name, with its latest ``pings`` pings (newest first)."""
    detail = await runtime.monitors.detail(account_id, monitor, pings=pings)
    out = _out(request, runtime, detail.row)
    out["pings"] = [ping_out(p) for p in detail.pings]
    return out


@router.put("/{name}", responses={201: {"description": "Created"}})
async def upsert_monitor(
    request: Request,
    name: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    data: JSONBody,
) -> Response:
    """Create or replace by name: 201 created, 200 replaced (or unchanged)."""
    row, created = await runtime.monitors.upsert(account_id, name, data, actor=actor)
    return SafeJSONResponse(_out(request, runtime, row), status_code=201 if created else 200)


@router.patch("/{monitor}")
async def patch_monitor(
    request: Request,
    monitor: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    data: JSONBody,
) -> dict[str, Any]:
    """Change some fields (``{"enabled": false}`` pauses); giving ``cron`` or ``interval``
    replaces the other."""
    row = await runtime.monitors.patch(account_id, monitor, data, actor=actor)
    return _out(request, runtime, row)


@router.delete("/{monitor}", status_code=204)
async def delete_monitor(
    monitor: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    await runtime.monitors.delete(account_id, monitor, actor=actor)
    return Response(status_code=204)


@router.post("/{monitor}/pause")
async def pause_monitor(
    request: Request, monitor: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Paused: never late, never failed; pings are still recorded."""
    row = await runtime.monitors.set_enabled(account_id, monitor, False, actor=actor)
    return _out(request, runtime, row)


@router.post("/{monitor}/resume")
async def resume_monitor(
    request: Request, monitor: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Expected again, counting from now."""
    row = await runtime.monitors.set_enabled(account_id, monitor, True, actor=actor)
    return _out(request, runtime, row)


@router.post("/{monitor}/rotate-token")
async def rotate_token(
    request: Request, monitor: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A new ping token: the old ping URLs answer 404 from now on."""
    row = await runtime.monitors.rotate_token(account_id, monitor, actor=actor)
    return _out(request, runtime, row)


@router.get("/{monitor}/pings")
async def list_pings(
    monitor: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_RECENT_PINGS)] = RECENT_PINGS,
) -> dict[str, Any]:
    """The monitor's latest pings, newest first (the last 100 are kept)."""
    detail = await runtime.monitors.detail(account_id, monitor, pings=limit)
    return page_out([ping_out(p) for p in detail.pings], None)


# --- pings ----------------------------------------------------------------------------------


async def _keyed_ping(
    request: Request,
    runtime: Any,
    account_id: str,
    monitor: str,
    kind: PingKind,
    exit_code: int | None,
) -> dict[str, Any]:
    row = await runtime.monitors.ping(
        account_id,
        monitor,
        kind,
        body=await request.body(),
        exit_code=exit_code,
        source_ip=request.client.host if request.client else None,
    )
    return _ping_answer(row, runtime.clock.now())


def _ping_answer(row: MonitorRow, now: datetime) -> dict[str, Any]:
    """What a ping hears back: no token, nothing a worker key should not see."""
    return {
        "ok": True,
        "monitor": row["id"],
        "state": rules.monitor_state(row, now).value,
        "next_expected_at": iso(row["next_expected_at"]),
    }


@ping_router.post("/v1/monitors/{monitor}/ping")
async def ping_monitor(
    request: Request,
    monitor: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    exit_code: ExitCode = None,
) -> dict[str, Any]:
    """A good ping (the job ran). Any body up to 10 KB is kept with the ping."""
    return await _keyed_ping(request, runtime, account_id, monitor, PingKind.OK, exit_code)


@ping_router.post("/v1/monitors/{monitor}/start")
async def ping_start(
    request: Request,
    monitor: str,
    account_id: AccountId,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """The job started (its ping must follow within ``max_runtime``, if set)."""
    return await _keyed_ping(request, runtime, account_id, monitor, PingKind.START, None)


@ping_router.post("/v1/monitors/{monitor}/fail")
async def ping_fail(
    request: Request,
    monitor: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    exit_code: ExitCode = None,
) -> dict[str, Any]:
    """The job failed: the monitor is ``failed`` until its next good ping."""
    return await _keyed_ping(request, runtime, account_id, monitor, PingKind.FAIL, exit_code)


async def _token_ping(
    request: Request, runtime: Any, token: str, kind: PingKind, exit_code: int | None
) -> Response:
    row = await runtime.monitors.ping_by_token(
        token,
        kind,
        body=await request.body() if request.method == "POST" else b"",
        exit_code=exit_code,
        source_ip=request.client.host if request.client else None,
    )
    if row is None:
        raise NotFound("not found")
    if request.method == "HEAD":
        return Response(status_code=200)
    return SafeJSONResponse({"ok": True})


async def token_ping(
    request: Request, token: str, runtime: RuntimeDep, exit_code: ExitCode = None
) -> Response:
    """A good ping with no API key: the token is the monitor's secret."""
    return await _token_ping(request, runtime, token, PingKind.OK, exit_code)


async def token_ping_start(request: Request, token: str, runtime: RuntimeDep) -> Response:
    """A run started, with no API key."""
    return await _token_ping(request, runtime, token, PingKind.START, None)


async def token_ping_fail(
    request: Request, token: str, runtime: RuntimeDep, exit_code: ExitCode = None
) -> Response:
    """A failure, with no API key."""
    return await _token_ping(request, runtime, token, PingKind.FAIL, exit_code)


# GET too (many tools only GET), and HEAD (uptime checkers); one route per method so each has
# its own operation id.
for _suffix, _endpoint in (
    ("", token_ping),
    ("/start", token_ping_start),
    ("/fail", token_ping_fail),
):
    for _method in ("GET", "POST", "HEAD"):
        ping_router.add_api_route(
            f"{TOKEN_PING_PREFIX}{{token}}{_suffix}",
            _endpoint,
            methods=[_method],
            name=f"{_endpoint.__name__}_{_method.lower()}",
            include_in_schema=_method != "HEAD",
        )
