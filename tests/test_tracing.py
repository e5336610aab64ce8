"""OpenTelemetry tracing (the ``otel`` extra): one trace from the API call that creates a job,
through the claim and the worker's handler, to the recorded result; push requests carry it.

Spans go to opentelemetry-sdk's ``InMemorySpanExporter``. The app, the engine and the SDK worker
run in-process: the worker's own job path (``Worker._execute``) runs the handler and reports
through the test's in-process client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from chronos import AsyncChronos, Chronos, _tracing
from chronos.server import telemetry
from chronos.server.engine.dispatcher import Dispatcher
from chronos.server.store.tables import jobs
from tests.endpoint import Endpoint
from tests.helpers import (
    api_client,
    claim_one,
    create_job,
    create_schedule,
    expect,
    run_scheduler,
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, for the server and the SDK, into memory (set before the app is built)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.configure(provider)
    _tracing.use_provider(provider)
    yield exporter
    telemetry.configure(None)
    _tracing.use_provider(None)


@pytest.fixture
async def traced(spans, runtime, account) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process API client of an app built while tracing is on."""
    async with api_client(runtime, account["key"]) as http:
        yield http


def caller_span(name: str = "caller") -> Any:
    """A span of the program calling Chronos (the SDK's tracer: the test's provider)."""
    return _tracing.tracer().start_as_current_span(name)


def header(span: Any) -> dict[str, str]:
    return {"traceparent": _tracing.traceparent_of(span) or ""}


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def only(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = named(exporter, name)
    assert len(found) == 1, f"expected one {name} span, got {[s.name for s in found]}"
    return found[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


async def run_worker_job(
    client: httpx.AsyncClient, account_key: str, job: dict[str, Any], handler: Any
) -> None:
    """The SDK worker's path for one claimed job: run the handler, report the result."""
    chronos = Chronos(api_key=account_key, base_url="http://chronos.test")
    chronos.worker.handle(job["handler"])(handler)
    worker = chronos.worker
    worker._tracing = _tracing.worker_enabled()
    with ThreadPoolExecutor(max_workers=1) as executor:
        await worker._execute(client, executor, job)
    chronos.close()


async def test_one_trace_links_create_claim_handler_and_result(spans, traced, account):
    seen: dict[str, Any] = {}

    async def handler(ctx):
        seen["traceparent"] = ctx.traceparent
        seen["current"] = trace.get_current_span().get_span_context()
        with _tracing.tracer().start_as_current_span("user-work"):
            await asyncio.sleep(0)
        return {"ok": True}

    with caller_span() as caller:  # the caller's context, as a traced program sends it
        response = await traced.post(
            "/v1/jobs", json={"handler": "h", "payload": {"n": 1}}, headers=header(caller)
        )
        job = expect(response, 201)
    claimed = await claim_one(traced)
    assert claimed["id"] == job["id"]
    await run_worker_job(traced, account["key"], claimed, handler)

    create = only(spans, "chronos.job.create")
    claim = only(spans, "chronos.job.claim")
    handled = only(spans, "chronos.handler")
    result = only(spans, "chronos.job.result")
    user_work = only(spans, "user-work")
    trace_id = caller.get_span_context().trace_id
    for span in (create, claim, handled, result, user_work):
        assert span.context.trace_id == trace_id, span.name
    # create is the caller's child; the job's context is create's: claim, handler and result
    # hang off it; the handler's own spans nest under the handler.
    assert parent_id(create) == caller.get_span_context().span_id
    assert claimed["traceparent"] == traceparent_of(create)
    assert seen["traceparent"] == claimed["traceparent"]
    for span in (claim, handled, result):
        assert parent_id(span) == create.context.span_id, span.name
    assert seen["current"].span_id == handled.context.span_id
    assert parent_id(user_work) == handled.context.span_id
    assert create.attributes["chronos.job.id"] == job["id"]
    assert claim.attributes["chronos.execution.id"] == claimed["execution_id"]
    assert claim.attributes["chronos.worker.id"] == "w1"
    assert handled.attributes["chronos.handler"] == "h"
    assert handled.status.status_code is not StatusCode.ERROR
    assert result.attributes["chronos.execution.status"] == "completed"
    assert result.attributes["chronos.job.status"] == "completed"
    assert result.status.status_code is not StatusCode.ERROR
    assert handled.start_time >= claim.start_time and result.start_time >= handled.start_time


async def test_a_failing_sync_handler_marks_its_span_and_the_result_as_errors(
    spans, traced, account
):
    def handler(ctx):  # a sync handler: runs in the worker's thread pool
        raise RuntimeError("boom")

    await create_job(traced, handler="h", max_retries=1)
    claimed = await claim_one(traced)
    await run_worker_job(traced, account["key"], claimed, handler)

    create = only(spans, "chronos.job.create")
    handled = only(spans, "chronos.handler")
    result = only(spans, "chronos.job.result")
    assert parent_id(handled) == create.context.span_id
    assert handled.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in handled.events)
    assert result.status.status_code is StatusCode.ERROR
    assert result.attributes["chronos.execution.status"] == "failed"
    assert result.attributes["chronos.job.status"] == "pending"  # a retry is scheduled


async def test_a_raw_traceparent_header_makes_the_job_join_the_callers_trace(spans, traced):
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await traced.post(
        "/v1/jobs/batch",
        json={"jobs": [{"handler": "h"}, {"handler": "h"}]},
        headers={"traceparent": caller},
    )
    expect(response, 201)
    create = only(spans, "chronos.job.create")
    assert f"{create.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert parent_id(create) == 0xB7AD6B7169203331
    assert create.attributes["chronos.jobs.count"] == 2
    first, second = await claim_one(traced), await claim_one(traced)
    assert first["traceparent"] == second["traceparent"] == traceparent_of(create)


async def test_the_async_client_sends_the_callers_trace_context(spans, traced, account):
    chronos = AsyncChronos(api_key=account["key"], base_url="http://chronos.test", http=traced)
    with caller_span("app-request") as caller:
        job = await chronos.jobs.create(handler="h")
    create = only(spans, "chronos.job.create")
    assert parent_id(create) == caller.get_span_context().span_id
    assert create.attributes["chronos.job.id"] == job.id


async def test_push_requests_carry_the_traceparent(spans, traced, runtime, endpoint: Endpoint):
    endpoint.route("/hook", 200)
    with caller_span() as caller:
        body = {"delivery": {"type": "push", "http": {"url": endpoint.url("/hook?token=secret")}}}
        expect(await traced.post("/v1/jobs", json=body, headers=header(caller)), 201)
    dispatcher = Dispatcher(runtime.db, runtime.clock, runtime.notifier, concurrency=2)
    try:
        await dispatcher.run_once()
        await dispatcher.wait_idle()
    finally:
        await dispatcher.close()

    [received] = endpoint.received
    create = only(spans, "chronos.job.create")
    push = only(spans, "chronos.push")
    result = only(spans, "chronos.job.result")
    # The request carries the push span's context (an HTTP client span), in the caller's trace.
    assert received.headers["traceparent"] == traceparent_of(push)
    assert push.context.trace_id == caller.get_span_context().trace_id
    assert parent_id(push) == parent_id(result) == create.context.span_id
    assert push.kind is trace.SpanKind.CLIENT
    assert push.attributes["http.request.method"] == "POST"
    assert push.attributes["http.response.status_code"] == 200
    assert push.attributes["url.full"] == endpoint.url("/hook")  # no query: it may hold secrets
    assert push.attributes["server.port"] == endpoint.port
    assert result.attributes["http.response.status_code"] == 200


async def test_a_failed_push_ends_its_span_with_an_error(spans, traced, runtime, endpoint):
    endpoint.route("/down", 503)
    await create_job(traced, delivery={"type": "push", "http": {"url": endpoint.url("/down")}})
    dispatcher = Dispatcher(runtime.db, runtime.clock, runtime.notifier, concurrency=2)
    try:
        await dispatcher.run_once()
        await dispatcher.wait_idle()
    finally:
        await dispatcher.close()
    push = only(spans, "chronos.push")
    assert push.status.status_code is StatusCode.ERROR
    assert push.attributes["http.response.status_code"] == 503
    assert push.attributes["error.type"] == "http_status"


async def test_a_fire_round_is_one_span_whose_jobs_continue_its_trace(
    spans, traced, runtime, clock
):
    for name in ("a", "b"):
        await create_schedule(traced, name=name, handler="h", cron="* * * * *")
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    fire = only(spans, "chronos.schedule.fire")
    assert fire.attributes["chronos.slots.fired"] == 2
    assert fire.parent is None  # a round is a trace of its own
    first, second = await claim_one(traced), await claim_one(traced)
    assert first["traceparent"] == second["traceparent"] == traceparent_of(fire)
    for claim in named(spans, "chronos.job.claim"):
        assert parent_id(claim) == fire.context.span_id


async def test_tracing_off_stores_nothing_and_adds_no_middleware(client, runtime):
    assert not telemetry.ENABLED
    app = client._transport.app  # type: ignore[attr-defined]
    assert all(m.cls is not telemetry.TraceContextMiddleware for m in app.user_middleware)
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await client.post("/v1/jobs", json={"handler": "h"}, headers={"traceparent": caller})
    job = expect(response, 201)
    claimed = await claim_one(client)
    assert claimed["traceparent"] is None
    async with runtime.db.read() as conn:
        stored = await conn.scalar(sa.select(jobs.c.traceparent).where(jobs.c.id == job["id"]))
    assert stored is None


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),  # naming a service asks for nothing
        ({"CHRONOS_OTEL": "1"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "CHRONOS_OTEL": "0"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_when_the_environment_asks_for_it(environ, enabled):
    assert _tracing.env_enabled(environ) is enabled


def test_exporters_come_from_the_standard_environment_variables():
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    def kinds(environ: dict[str, str]) -> list[type]:
        return [type(e) for e in _tracing.exporters_from_env(environ)]

    assert kinds({}) == [GrpcExporter]  # otlp, and gRPC by default, as opentelemetry-instrument
    assert kinds({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}) == [HttpExporter]
    assert kinds({"OTEL_TRACES_EXPORTER": "console,otlp_proto_http"}) == [
        ConsoleSpanExporter,
        HttpExporter,
    ]
    assert kinds({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert kinds({"OTEL_TRACES_EXPORTER": "no-such-exporter"}) == []  # warned, not fatal


def test_the_service_name_defaults_to_chronos_unless_otel_names_one(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    provider = _tracing.provider_from_env("chronos")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "chronos"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "scheduler-eu")
    provider = _tracing.provider_from_env("chronos")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "scheduler-eu"
