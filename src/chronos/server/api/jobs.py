"""/v1/jobs and /v1/executions: one-off jobs, their history, cancel and retry.

Thin: each route parses its input, calls one ``JobService`` method and presents the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined as Undefined
from starlette.responses import Response

from chronos.server.api.deps import (
    AccountId,
    Limit,
    RuntimeDep,
    authenticate,
    require_json_body,
    tag_filters,
)
from chronos.server.api.guard import JSON_BODY
from chronos.server.api.presenters import execution_out, job_out, page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.rows import JobSpec
from chronos.server.domain.states import JobStatus, JobTrigger
from chronos.server.errors import ChronosError
from chronos.server.normalize import normalize_job
from chronos.server.runtime import Runtime
from chronos.server.schemas import JobIn
from chronos.server.services.jobs import JobFilter, parse_created_range

router = APIRouter(tags=["jobs"], route_class=SafeRoute)


class JsonBodyRoute(SafeRoute):
    """A route taking one JSON body, the caller's account and the runtime, run without
    FastAPI's per-request machinery (the create calls: ``POST /v1/jobs`` is on the path from
    "enqueue" to "a worker has it", W2 in docs/benchmarks.md).

    FastAPI's request handler solves the dependency graph for every request (cache keys,
    scopes, telemetry hooks) and parses the content type with ``email.message``; here the same
    steps run as plain calls, in FastAPI's order, raising the same errors: a body that is not
    JSON (400 ``invalid_json``), ``require_json_body`` (the routers' dependency in app.py),
    ``authenticate``, then the body's validation through FastAPI's own
    ``request_body_to_args`` (the same 422 details). The route, its parameters and its schema
    are FastAPI's as declared, so the OpenAPI document does not change. The endpoint must take
    exactly ``body``, ``account_id`` and ``runtime``; a dependency added to this router later
    must be added here too.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        body_fields = self.dependant.body_params
        embed = bool(getattr(self, "_embed_body_fields", False))

        async def handle(request: Request) -> Response:
            body = await _json_body(request)
            await require_json_body(request)
            account_id = await authenticate(request)
            values, errors = await request_body_to_args(body_fields, body, embed)
            if errors:
                raise RequestValidationError(errors, body=body)
            runtime = request.scope["app"].state.runtime
            response: Response = await endpoint(**values, account_id=account_id, runtime=runtime)
            return response

        return handle


async def _json_body(request: Request) -> Any:
    """The body as FastAPI reads it: JSON when the content type says so (the request guard's
    parse is reused), the raw bytes otherwise, ``Undefined`` when empty."""
    raw = await request.body()
    if not raw:
        return Undefined
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    maintype, slash, subtype = content_type.partition("/")
    if maintype != "application" or "/" in subtype or not slash:
        return raw
    if subtype != "json" and not subtype.endswith("+json"):
        return raw
    parsed = request.scope.get("state", {}).get(JSON_BODY)
    if parsed is not None:
        return parsed[0]
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from exc
    except Exception as exc:  # e.g. bytes that are not UTF-8, as FastAPI answers them
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: Annotated[list[JobIn], Field(min_length=1, max_length=1000)]


def _limits(runtime: Runtime) -> dict[str, Any]:
    settings = runtime.settings
    return {
        "max_payload_bytes": settings.max_payload_bytes,
        "max_push_timeout": settings.push_max_timeout_seconds,
    }


async def create_job(body: JobIn, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    spec = normalize_job(body, **_limits(runtime))
    return job_out(await runtime.jobs.create(account_id, spec))


router.add_api_route(
    "/v1/jobs",
    create_job,
    methods=["POST"],
    status_code=201,
    route_class_override=JsonBodyRoute,
)


async def create_jobs(body: BatchIn, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """All or nothing: one bad job rejects the batch, naming its index."""
    specs: list[JobSpec] = []
    for index, job in enumerate(body.jobs):
        try:
            specs.append(normalize_job(job, **_limits(runtime)))
        except ChronosError as exc:
            exc.message = f"jobs[{index}]: {exc.message}"
            exc.details = {"index": index, **({"details": exc.details} if exc.details else {})}
            raise
    rows = await runtime.jobs.create_many(account_id, specs)
    return {"data": [job_out(r) for r in rows]}


router.add_api_route(
    "/v1/jobs/batch",
    create_jobs,
    methods=["POST"],
    status_code=201,
    route_class_override=JsonBodyRoute,
)


@router.get("/v1/jobs")
async def list_jobs(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    schedule_id: str | None = None,
    status: JobStatus | None = None,
    handler: str | None = None,
    trigger: JobTrigger | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Newest first. ``created_from``/``created_to``: RFC 3339 (no offset means UTC), the
    range ``[created_from, created_to)``; ``tag.KEY=VALUE`` filters by tag."""
    start, end = parse_created_range(created_from, created_to)
    where = JobFilter(
        schedule_id=None if schedule_id == "null" else schedule_id,
        one_off_only=schedule_id == "null",
        status=status,
        handler=handler,
        tags=tag_filters(request),
        created_from=start,
        created_to=end,
        trigger=trigger,
    )
    rows, next_cursor = await runtime.jobs.find(account_id, where, cursor=cursor, limit=limit)
    return page_out([job_out(r) for r in rows], next_cursor)


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    job, executions = await runtime.jobs.get(account_id, job_id)
    return {**job_out(job), "executions": [execution_out(e) for e in executions]}


@router.get("/v1/jobs/{job_id}/executions")
async def list_job_executions(
    job_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    _, executions = await runtime.jobs.get(account_id, job_id)
    return page_out([execution_out(e) for e in executions], None)


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """pending/queued/ready → canceled. A running job is canceled too: its worker learns it
    from its next heartbeat (``cancel_requested: true``) and its result is refused."""
    return job_out(await runtime.jobs.cancel(account_id, job_id))


@router.post("/v1/jobs/{job_id}/retry")
async def retry_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """Run a failed or canceled job again (dead-letter replay), with a fresh set of retries."""
    return job_out(await runtime.jobs.retry(account_id, job_id))


@router.get("/v1/executions/{execution_id}")
async def get_execution(
    execution_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return execution_out(await runtime.jobs.get_execution(account_id, execution_id))
