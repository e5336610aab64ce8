"""OpenTelemetry spans for the server, optional (``pip install 'chronos-scheduler[otel]'``).

Off unless the environment asks for it (``chronos._tracing.env_enabled``: an ``OTEL_*``
exporter or endpoint, or ``CHRONOS_OTEL=1``), or a program embedding the server gives a
provider (:func:`configure`). While off, every call site is one test of the module-level flag
:data:`ENABLED`; nothing else runs, nothing is stored, no header is read or sent.

While on:

| span | where | parent |
|---|---|---|
| ``chronos.job.create`` | ``POST /v1/jobs``, ``/v1/jobs/batch`` | the request's ``traceparent`` |
| ``chronos.schedule.fire`` | a scheduler round that fires slots | none (a new trace per round) |
| ``chronos.job.claim`` | a worker's claim, one per job claimed | the job's context |
| ``chronos.job.result`` | a result recorded (worker, push, lease expiry) | the job's context |
| ``chronos.push`` | the push request (kind client; ``http.*``) | the job's context |

A job keeps the context it was created in (the create span, or the fire round's span) as a
W3C ``traceparent`` in its ``traceparent`` column; the claim response hands it to the worker,
whose ``chronos.handler`` span continues the trace, and push requests carry it onwards (as the
``chronos.push`` span's context, in a ``traceparent`` header).

    telemetry.setup()                       # once per process: reads the environment
    if telemetry.ENABLED:
        with telemetry.job_create(len(specs)) as traced: ...
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from chronos import _tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer
    from starlette.types import ASGIApp, Receive, Scope, Send

    from chronos.server.domain.jobs import Ending
    from chronos.server.domain.rows import ClaimedJob, JobOutcome, JobRow
    from chronos.server.engine.push import PushResult

log = logging.getLogger("chronos.telemetry")

# The one flag the hot paths test. Set by :func:`setup` or :func:`configure`.
ENABLED = False
_tracer: Tracer | None = None
_set_up = False


def setup(environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on if the environment asks for it (once per process; later calls, and
    calls after :func:`configure`, change nothing). Uses the program's tracer provider when it
    has set one (say, under ``opentelemetry-instrument``), else one built from the ``OTEL_*``
    variables. Returns whether tracing is on."""
    global _set_up
    if _set_up:
        return ENABLED
    _set_up = True
    if not _tracing.env_enabled(environ):
        return False
    if not _tracing.api_installed():
        log.warning(
            "tracing was asked for but OpenTelemetry is not installed: "
            "pip install 'chronos-scheduler[otel]'"
        )
        return False
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        provider = _tracing.provider_from_env("chronos", environ)
        if provider is None:
            return False
        trace.set_tracer_provider(provider)
    configure(provider)
    log.info("tracing on: spans go to the exporters named by OTEL_TRACES_EXPORTER")
    return True


def configure(provider: Any) -> None:
    """Trace with ``provider`` (an OpenTelemetry ``TracerProvider``); None turns tracing off.
    For tests and programs that embed the server with their own provider."""
    global ENABLED, _tracer, _set_up
    _set_up = True
    _tracer = provider.get_tracer("chronos.server") if provider is not None else None
    ENABLED = _tracer is not None


class TraceContextMiddleware:
    """Makes an incoming request's trace context (``traceparent``, ``tracestate``, as the
    configured propagators read them) current while the request is handled, so that a job
    created by a traced caller joins the caller's trace. Installed only while tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry import propagate

        self.app = app
        fields = propagate.get_global_textmap().fields
        self.fields = {name.lower().encode("latin-1") for name in fields}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in self.fields
        }
        if not carrier:
            await self.app(scope, receive, send)
            return
        from opentelemetry import context, propagate

        token = context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)


def install(app: Any) -> None:
    """Add :class:`TraceContextMiddleware` to ``app`` if tracing is on."""
    if ENABLED:
        app.add_middleware(TraceContextMiddleware)


class Creating:
    """A ``chronos.job.create`` span in progress: its ``traceparent`` goes on the new jobs."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.traceparent = _tracing.traceparent_of(span)

    def created(self, rows: list[JobRow]) -> list[JobRow]:
        if len(rows) == 1:
            self.span.set_attribute("chronos.job.id", rows[0]["id"])
            if rows[0]["handler"]:
                self.span.set_attribute("chronos.handler", str(rows[0]["handler"]))
        return rows


@contextmanager
def job_create(account_id: str, count: int) -> Iterator[Creating]:
    """The span of one create call (``count`` jobs: one, or a batch), a child of the current
    context (the caller's ``traceparent``). An exception (a conflict, a bad job) ends it with
    an error status."""
    from opentelemetry.trace import SpanKind

    assert _tracer is not None
    with _tracer.start_as_current_span(
        "chronos.job.create",
        kind=SpanKind.PRODUCER,
        attributes={"chronos.account.id": account_id, "chronos.jobs.count": count},
    ) as span:
        yield Creating(span)


@contextmanager
def schedule_fire(schedules: int, slots: int) -> Iterator[str | None]:
    """The span of one scheduler round that fires ``slots`` slots of ``schedules`` due
    schedules; yields the ``traceparent`` its jobs keep (None while tracing is off or nothing
    fires). One span per round, not per job: the jobs a round fires share its trace."""
    if not ENABLED or not slots:
        yield None
        return
    from opentelemetry import context
    from opentelemetry.trace import SpanKind

    assert _tracer is not None
    with _tracer.start_as_current_span(
        "chronos.schedule.fire",
        # A round is its own trace, whatever context the scheduler's task happens to hold.
        context=context.Context(),
        kind=SpanKind.PRODUCER,
        attributes={"chronos.schedules.due": schedules, "chronos.slots.fired": slots},
    ) as span:
        yield _tracing.traceparent_of(span)


def now_ns() -> int:
    return time.time_ns()


def jobs_claimed(claimed: Sequence[ClaimedJob], worker_id: str | None, started_ns: int) -> None:
    """A ``chronos.job.claim`` span per claimed job, each in its job's trace, from when the
    claim statement started until now."""
    from opentelemetry.trace import SpanKind

    assert _tracer is not None
    end = time.time_ns()
    for job in claimed:
        span = _tracer.start_span(
            "chronos.job.claim",
            context=_tracing.parent_context(job.get("traceparent")),
            kind=SpanKind.INTERNAL,
            start_time=started_ns or end,
            attributes={
                "chronos.job.id": job["id"],
                "chronos.execution.id": job["execution_id"],
                "chronos.job.attempt": job["attempt"],
                "chronos.handler": job["handler"] or "",
                "chronos.worker.id": worker_id or "",
            },
        )
        span.end(end)


def results_recorded(
    endings: Sequence[Ending], outcomes: Sequence[JobOutcome], started_ns: int
) -> None:
    """A ``chronos.job.result`` span per recorded ending, each in its job's trace: how the
    attempt ended (``chronos.execution.status``) and what it did to the job
    (``chronos.job.status``: completed, failed, or pending for a retry)."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    assert _tracer is not None
    end = time.time_ns()
    for ending, outcome in zip(endings, outcomes, strict=True):
        row, result = ending.execution, ending.result
        attributes: dict[str, Any] = {
            "chronos.job.id": row["job_id"],
            "chronos.execution.id": row["id"],
            "chronos.job.attempt": row["attempt"],
            "chronos.execution.status": result.status.value,
            "chronos.job.status": outcome["status"],
        }
        if result.http_status is not None:
            attributes["http.response.status_code"] = result.http_status
        span = _tracer.start_span(
            "chronos.job.result",
            context=_tracing.parent_context(row.get("traceparent")),
            kind=SpanKind.INTERNAL,
            start_time=started_ns or end,
            attributes=attributes,
        )
        if result.status.value != "completed":
            error = result.error if isinstance(result.error, dict) else {}
            span.set_status(Status(StatusCode.ERROR, str(error.get("message", result.status))))
        span.end(end)


async def push(
    job: ClaimedJob, request: httpx.Request | PushResult, sending: Any
) -> tuple[PushResult, int]:
    """Await ``sending`` (the coroutine sending ``request``) inside a ``chronos.push`` span
    (kind client, a child of the job's context) whose ``traceparent`` the request carries."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    assert _tracer is not None
    attributes: dict[str, Any] = {
        "chronos.job.id": job["id"],
        "chronos.execution.id": job["execution_id"],
        "chronos.job.attempt": job["attempt"],
    }
    if isinstance(request, httpx.Request):
        attributes.update(
            {
                "http.request.method": request.method,
                "url.full": _redacted(request.url),
                "server.address": request.url.host,
                "server.port": request.url.port or (443 if request.url.scheme == "https" else 80),
            }
        )
    with _tracer.start_as_current_span(
        "chronos.push",
        context=_tracing.parent_context(job.get("traceparent")),
        kind=SpanKind.CLIENT,
        attributes=attributes,
    ) as span:
        if isinstance(request, httpx.Request) and (traceparent := _tracing.traceparent_of(span)):
            request.headers["traceparent"] = traceparent
        result, duration_ms = await sending
        if result.http_status is not None:
            span.set_attribute("http.response.status_code", result.http_status)
        if result.status.value != "completed":
            error = result.error or {}
            if error.get("type"):
                span.set_attribute("error.type", str(error["type"]))
            span.set_status(Status(StatusCode.ERROR, str(error.get("message", result.status))))
        return result, duration_ms


def _redacted(url: httpx.URL) -> str:
    """The URL without credentials or query (which may hold secrets)."""
    return str(url.copy_with(userinfo=b"", query=None))
