"""OpenTelemetry tracing, optional: ``pip install 'chronos-scheduler[otel]'``.

The SDK side (the worker and the client) and the shared set-up the server uses
(:mod:`chronos.server.telemetry`). Everything is off, and costs one flag test per job, unless
tracing is on:

- **Worker**: on when the program has set an OpenTelemetry tracer provider, or when the
  environment asks for tracing (:func:`env_enabled`); then the worker sets one up from the
  standard ``OTEL_*`` variables itself (:func:`provider_from_env`). Each handler runs inside a
  span ``chronos.handler`` whose parent is the job's trace context (``ctx.traceparent``, the
  W3C ``traceparent`` the server stored when the job was created).
- **Client**: a call made inside an active span sends it as a ``traceparent`` header, so a job
  created from a traced request continues that trace.

    export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317   # or CHRONOS_OTEL=1
    chronos worker app:chronos                                 # handlers traced

OpenTelemetry is imported only once tracing is on (or, for the client, once the program itself
has imported it): the SDK pays nothing for it otherwise, not even the import. See
docs/tracing.md.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("chronos.tracing")

TRACER_NAME = "chronos"
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")

# A provider given by :func:`use_provider` (tests, programs embedding the worker); else the
# global one.
_provider: Any = None


def env_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for tracing, by the OpenTelemetry convention: an exporter
    (``OTEL_TRACES_EXPORTER`` other than ``none``) or an OTLP endpoint
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, or
    ``CHRONOS_OTEL=1``. ``CHRONOS_OTEL=0`` or ``OTEL_SDK_DISABLED=true`` turns it off."""
    flag = environ.get("CHRONOS_OTEL", "").strip().lower()
    if flag in _OFF or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if flag in _ON:
        return True
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def exporters_from_env(environ: Mapping[str, str] = os.environ) -> list[SpanExporter]:
    """The span exporters ``OTEL_TRACES_EXPORTER`` names (default ``otlp``), as
    ``opentelemetry-instrument`` picks them: each name is an ``opentelemetry_traces_exporter``
    entry point (``otlp``, ``console``, ``otlp_proto_http``, …), and ``otlp`` means gRPC unless
    ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` is ``http/protobuf``. Each exporter reads its own
    ``OTEL_EXPORTER_*`` settings (endpoint, headers, timeout, …)."""
    exporters: list[SpanExporter] = []
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp") or "otlp"
    for raw in names.split(","):
        name = raw.strip().lower()
        if not name or name == "none":
            continue
        if name == "otlp":
            protocol = (
                environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "grpc"
            ).strip()
            name = "otlp_proto_http" if protocol.startswith("http") else "otlp_proto_grpc"
        found = list(entry_points(group="opentelemetry_traces_exporter", name=name))
        if not found:
            log.warning(
                "tracing: no span exporter %r is installed (pip install "
                "'chronos-scheduler[otel]'); spans for it are dropped",
                name,
            )
            continue
        exporters.append(found[0].load()())
    return exporters


def provider_from_env(
    service_name: str, environ: Mapping[str, str] = os.environ
) -> TracerProvider | None:
    """A tracer provider set up by the standard ``OTEL_*`` variables, or None (with a warning)
    if opentelemetry-sdk is not installed.

    The SDK reads the resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``; else
    ``service.name`` is ``service_name``), the sampler (``OTEL_TRACES_SAMPLER[_ARG]``), the span
    limits and the batch processor's ``OTEL_BSP_*``; :func:`exporters_from_env` the exporters.
    """
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "tracing was asked for (OTEL_* or CHRONOS_OTEL) but opentelemetry-sdk is not "
            "installed: pip install 'chronos-scheduler[otel]'"
        )
        return None
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters_from_env(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@functools.cache
def api_installed() -> bool:
    """Whether the ``opentelemetry-api`` package can be imported (without importing it)."""
    return importlib.util.find_spec("opentelemetry") is not None and (
        importlib.util.find_spec("opentelemetry.trace") is not None
    )


def use_provider(provider: Any) -> None:
    """Trace the worker and the client with ``provider`` instead of the global one (None: back
    to the global one). For tests and programs that keep their own provider."""
    global _provider
    _provider = provider


def tracer() -> Tracer:
    from opentelemetry import trace

    provider = _provider if _provider is not None else trace.get_tracer_provider()
    return provider.get_tracer(TRACER_NAME)


def worker_enabled() -> bool:
    """Whether a worker starting now traces its handlers (see the module doc). Sets up the
    global provider from the environment when it asks for tracing and the program has not."""
    if _provider is not None:
        return True
    # A program that set up a provider has imported OpenTelemetry; else only the environment
    # can ask for tracing, and nothing is imported unless it does.
    if not api_installed() or ("opentelemetry.trace" not in sys.modules and not env_enabled()):
        return False
    from opentelemetry import trace

    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return True  # the program (or opentelemetry-instrument) set one up
    if not env_enabled():
        return False
    provider = provider_from_env("chronos-worker")
    if provider is None:
        return False
    trace.set_tracer_provider(provider)
    return True


def parent_context(traceparent: str | None) -> Context | None:
    """The context a stored W3C ``traceparent`` stands for (None: none, or malformed)."""
    if not traceparent:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def traceparent_of(span: Span) -> str | None:
    """``span``'s context as a W3C ``traceparent`` (None if it has none)."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def traced_handler(handler: Callable[[Any], Any], job: Mapping[str, Any]) -> Callable[[Any], Any]:
    """``handler`` wrapped to run inside a span ``chronos.handler`` (kind consumer) whose parent
    is the job's ``traceparent`` (a new trace when it has none). A handler that raises ends the
    span with an error status and the exception recorded. Sync handlers stay sync (they run in
    the worker's threads), async ones async."""
    from opentelemetry.trace import SpanKind

    parent = parent_context(job.get("traceparent"))
    attributes: dict[str, Any] = {
        "chronos.handler": str(job.get("handler")),
        "chronos.job.id": str(job.get("id")),
        "chronos.execution.id": str(job.get("execution_id")),
        "chronos.job.attempt": int(job.get("attempt") or 0),
    }
    span_tracer = tracer()

    def span() -> Any:
        return span_tracer.start_as_current_span(
            "chronos.handler", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def run_async(ctx: Any) -> Any:
            with span():
                return await handler(ctx)

        return run_async

    @functools.wraps(handler)
    def run(ctx: Any) -> Any:
        with span():
            return handler(ctx)

    return run


def outgoing_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus the current trace context (``traceparent``, as the program's
    propagators write it) when a span is active; else ``headers`` as they are. A program with
    an active span has imported OpenTelemetry; one that has not costs a dictionary lookup."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        return headers
    from opentelemetry import propagate

    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier
