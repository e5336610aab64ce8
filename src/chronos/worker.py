"""The worker runner: long-poll for jobs, run handlers, heartbeat, report, shut down cleanly.

    from chronos import Chronos
    chronos = Chronos()                       # CHRONOS_URL, CHRONOS_API_KEY

    @chronos.worker.handle("sync-tenant")
    async def sync_tenant(ctx):               # ctx.payload, ctx.job, ctx.attempt, ctx.execution_id
        return {"synced": len(ctx.payload.get("tenants", []))}  # the execution's output

    chronos.worker.start(concurrency=4)       # blocks; SIGTERM/SIGINT: finish in-flight, exit

``ctx.payload`` is the JSON the job carries, exactly as it was sent, and ``{}`` when none was
sent (no payload, or ``null``), so ``ctx.payload.get(...)`` is always safe for a schedule or job
created without one. Async handlers run on the worker's event loop; sync handlers run in a
thread pool. A handler that raises fails the attempt, which Chronos retries with backoff; raise
:class:`NonRetryable` to fail the job for good. Long handlers are kept alive by heartbeats
(every third of the job's timeout); when the server says the job was canceled,
``ctx.cancel_requested`` turns true and an async handler is cancelled. Network errors and server
restarts are retried with backoff: the worker never crashes on them. On SIGTERM or SIGINT it
stops claiming, waits up to ``grace_seconds`` for in-flight jobs, reports their results and
returns. Jobs it claimed but could not finish are timed out by the server and retried elsewhere
(at-least-once).

The worker logs (logger ``chronos.worker``) a startup line naming the handlers it polls and the
server URL, and one line per job: handler, job id, attempt, duration and outcome (``ok``,
``failed``, ``retry``, ``canceled``). ``start()`` sets up logging to stderr when the program has
none (``CHRONOS_LOG_LEVEL``, ``CHRONOS_LOG_FORMAT=json``; see :mod:`chronos.logs`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from chronos import _tracing

if TYPE_CHECKING:
    from chronos.client import Chronos

log = logging.getLogger("chronos.worker")

Handler = Callable[["JobContext"], Any]
CLAIM_WAIT_SECONDS = 20
MAX_BACKOFF_SECONDS = 10.0
TRACEBACK_CHARS = 4000


class Retryable(Exception):
    """Fail this attempt; Chronos retries the job (the default for any exception)."""


class NonRetryable(Exception):
    """Fail the job for good: no more attempts."""


class JobContext:
    """What a handler gets: the claimed job and a way to learn it was canceled.

    ``payload`` is the job's JSON as sent, ``{}`` when none was; ``job`` is the claimed job
    (``id``, ``name``, ``handler``, ``schedule_id``, ``scheduled_for``, ``tags``, ``timeout``…);
    ``attempt`` counts from 1; ``cancel_requested`` turns true when the job is canceled.
    ``chronos.testing.perform`` builds one for tests.
    """

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.job_id: str = job["id"]
        self.execution_id: str = job["execution_id"]
        self.attempt: int = job["attempt"]
        payload = job.get("payload")
        # Always the JSON that was sent; {} when nothing (or null) was.
        self.payload: Any = {} if payload is None else payload
        self.name: str | None = job.get("name")
        self.handler: str = job["handler"]
        self.scheduled_for: str | None = job.get("scheduled_for")
        # The job's W3C trace context (None unless the server traces): see docs/tracing.md.
        self.traceparent: str | None = job.get("traceparent")
        self._canceled = asyncio.Event()

    @property
    def cancel_requested(self) -> bool:
        """True once the server said the job was canceled (sync handlers should check it)."""
        return self._canceled.is_set()


class Worker:
    def __init__(self, client: Chronos) -> None:
        self.client = client
        self.handlers: dict[str, Handler] = {}
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tracing = False  # handlers run in spans (chronos._tracing), decided by run()

    def handle(self, name: str) -> Callable[[Handler], Handler]:
        """Register the decorated function as the handler for jobs with ``handler == name``."""

        def register(function: Handler) -> Handler:
            self.handlers[name] = function
            return function

        return register

    def start(
        self, *, concurrency: int = 1, worker_id: str | None = None, grace_seconds: float = 30.0
    ) -> None:
        """Run until SIGTERM or SIGINT (blocking). Logs to stderr, unless the program has set
        up logging itself (``CHRONOS_LOG_LEVEL``, ``CHRONOS_LOG_FORMAT``)."""
        if not logging.getLogger().handlers:
            from chronos.logs import configure

            configure()
        asyncio.run(
            self.run(
                concurrency=concurrency,
                worker_id=worker_id,
                grace_seconds=grace_seconds,
                install_signal_handlers=True,
            )
        )

    def stop(self) -> None:
        """Ask a running worker to stop claiming and finish (safe from any thread)."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def run(
        self,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        grace_seconds: float = 30.0,
        install_signal_handlers: bool = False,
    ) -> None:
        if not self.handlers:
            raise RuntimeError("no handlers registered: use @chronos.worker.handle(name)")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._tracing = _tracing.worker_enabled()
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stopping.set)
        worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chronos")
        http = httpx.AsyncClient(
            base_url=self.client.base_url,
            headers={"Authorization": f"Bearer {self.client.api_key}"},
            timeout=httpx.Timeout(30.0, read=CLAIM_WAIT_SECONDS + 10),
        )
        in_flight: set[asyncio.Task[None]] = set()
        log.info(
            "worker %s polling %s for handlers %s (concurrency %d)",
            worker_id,
            self.client.base_url,
            ", ".join(sorted(self.handlers)),
            concurrency,
            extra={
                "fields": {
                    "worker_id": worker_id,
                    "url": self.client.base_url,
                    "handlers": sorted(self.handlers),
                    "concurrency": concurrency,
                }
            },
        )
        try:
            await self._claim_loop(http, executor, worker_id, concurrency, in_flight)
            if in_flight:
                log.info(
                    "stopping: waiting up to %.0fs for %d job(s)", grace_seconds, len(in_flight)
                )
                _, unfinished = await asyncio.wait(in_flight, timeout=grace_seconds)
                for task in unfinished:
                    task.cancel()
                await asyncio.gather(*unfinished, return_exceptions=True)
            log.info("worker %s stopped", worker_id)
        finally:
            await http.aclose()
            executor.shutdown(wait=False, cancel_futures=True)
            if install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(sig)

    async def _claim_loop(
        self,
        http: httpx.AsyncClient,
        executor: ThreadPoolExecutor,
        worker_id: str,
        concurrency: int,
        in_flight: set[asyncio.Task[None]],
    ) -> None:
        assert self._stopping is not None
        stopping = asyncio.ensure_future(self._stopping.wait())
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                free = concurrency - len(in_flight)
                if free <= 0:
                    await asyncio.wait({stopping, *in_flight}, return_when=asyncio.FIRST_COMPLETED)
                    continue
                claim = asyncio.ensure_future(
                    http.post(
                        "/v1/worker/jobs/claim",
                        json={
                            "handlers": sorted(self.handlers),
                            "worker_id": worker_id,
                            "wait_seconds": CLAIM_WAIT_SECONDS,
                            "limit": free,
                        },
                    )
                )
                await asyncio.wait({claim, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not claim.done():
                    claim.cancel()
                    break
                try:
                    response = claim.result()
                    if response.status_code == 401:
                        raise PermissionError("Chronos refused the API key (401)")
                    response.raise_for_status()
                    jobs = response.json()["jobs"]
                    backoff = 0.5
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.warning("claim failed (%s); retrying in %.1fs", exc, backoff)
                    await asyncio.wait({stopping}, timeout=backoff)
                    backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
                    continue
                for job in jobs:
                    task = asyncio.create_task(self._execute(http, executor, job))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            stopping.cancel()

    async def _execute(
        self, http: httpx.AsyncClient, executor: ThreadPoolExecutor, job: dict[str, Any]
    ) -> None:
        ctx = JobContext(job)
        handler = self.handlers[job["handler"]]
        if self._tracing:
            handler = _tracing.traced_handler(handler, job)
        started = time.monotonic()
        if inspect.iscoroutinefunction(handler):
            running: asyncio.Future[Any] = asyncio.ensure_future(handler(ctx))
        else:
            running = asyncio.get_running_loop().run_in_executor(executor, handler, ctx)
        beating = asyncio.create_task(self._heartbeat(http, ctx, running, job.get("timeout", 30)))
        try:
            output = await running
            result: dict[str, Any] = {"status": "completed", "output": _jsonable(output)}
        except asyncio.CancelledError:
            if ctx.cancel_requested:
                _log_job(ctx, started, "canceled")
                return  # the job was canceled: the server refuses any result
            raise
        except NonRetryable as exc:
            result = {"status": "failed", "retryable": False, "error": _error(exc)}
        except Exception as exc:  # a handler's failure is the job's failure, not the worker's
            result = {"status": "failed", "retryable": True, "error": _error(exc)}
        finally:
            beating.cancel()
        outcome = _outcome(result, job)
        _log_job(ctx, started, outcome, result.get("error"))
        await self._report(http, ctx, result)

    async def _heartbeat(
        self,
        http: httpx.AsyncClient,
        ctx: JobContext,
        running: asyncio.Future[Any],
        lease_seconds: float,
    ) -> None:
        interval = max(0.5, float(lease_seconds) / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                response = await http.post(f"/v1/worker/executions/{ctx.execution_id}/heartbeat")
            except httpx.HTTPError as exc:
                log.warning("heartbeat for %s failed: %s", ctx.job_id, exc)
                continue
            gone = response.status_code in (404, 409)
            if gone or (response.status_code == 200 and response.json().get("cancel_requested")):
                ctx._canceled.set()
                running.cancel()  # interrupts an async handler; a sync one sees the flag
                return

    async def _report(
        self, http: httpx.AsyncClient, ctx: JobContext, result: dict[str, Any]
    ) -> None:
        backoff = 0.5
        for _ in range(20):
            try:
                response = await http.post(
                    f"/v1/worker/executions/{ctx.execution_id}/result", json=result
                )
            except httpx.HTTPError as exc:
                log.warning("reporting %s failed (%s); retrying", ctx.job_id, exc)
            else:
                if response.status_code < 500:
                    if response.status_code == 409:
                        log.info(
                            "result for %s refused: the execution is no longer running", ctx.job_id
                        )
                    return
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
        log.error("gave up reporting %s; the server will time it out and retry", ctx.job_id)


def _outcome(result: dict[str, Any], job: dict[str, Any]) -> str:
    """``ok``; ``failed`` (for good: non-retryable, or the last attempt); ``retry``."""
    if result["status"] == "completed":
        return "ok"
    max_retries = job.get("max_retries")
    last = isinstance(max_retries, int) and job["attempt"] > max_retries
    return "retry" if result.get("retryable", True) and not last else "failed"


def _log_job(
    ctx: JobContext, started: float, outcome: str, error: dict[str, Any] | None = None
) -> None:
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    why = f": {error['type']}: {error['message']}" if error else ""
    log.log(
        logging.WARNING if outcome in ("failed", "retry") else logging.INFO,
        "%s %s attempt %d %s in %.1f ms%s",
        ctx.handler,
        ctx.job_id,
        ctx.attempt,
        outcome,
        duration_ms,
        why[:300],
        extra={
            "fields": {
                "handler": ctx.handler,
                "job_id": ctx.job_id,
                "execution_id": ctx.execution_id,
                "attempt": ctx.attempt,
                "duration_ms": duration_ms,
                "outcome": outcome,
                **({"error": why[2:300]} if error else {}),
            }
        },
    )


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _error(exc: BaseException) -> dict[str, Any]:
    text = "".join(traceback.format_exception(exc))
    return {"type": type(exc).__name__, "message": str(exc), "traceback": text[-TRACEBACK_CHARS:]}
