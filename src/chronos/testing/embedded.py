"""An in-process Chronos for tests: a real server (uvicorn in a thread) on a temporary SQLite
file, whose clock moves only when the test says so. Needs ``chronos-scheduler[server]``.

    with ChronosTestServer() as server:            # or the ``chronos_server`` pytest fixture
        server.client.jobs.create(handler="email", payload={"to": "a@b.c"})
        server.assert_enqueued(handler="email", payload={"to": "a@b.c"})
        server.client.schedules.create(name="hourly", handler="report", interval="1h")
        server.advance(hours=1)                    # move the clock, run one engine round
        server.assert_enqueued(handler="report", schedule="hourly")
        result = server.drain({"email": send_email, "report": report})
        assert (result.completed, result.failed) == (2, 0)

The background services do not run by themselves: :meth:`tick` runs one round of the scheduler
(due schedule slots become jobs), admission (delayed jobs and retries whose time has come become
claimable) and the lease rescuer (expired executions time out), deterministically.
:meth:`advance` and :meth:`freeze` move the clock; ``advance`` then ticks. Push jobs are created
and listed but never sent. A real worker (``server.client.worker``) works against ``server.url``
too; the clock does not move while it runs, so pick jobs that need no time to pass.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from chronos.client import Chronos
from chronos.errors import NotFoundError
from chronos.models import Job
from chronos.testing import run_awaitable
from chronos.worker import JobContext, NonRetryable, _error, _jsonable, _outcome

T = TypeVar("T")
ENQUEUED = ("pending", "admitting", "queued", "ready")
Handler = Callable[[JobContext], Any]


@dataclass
class TickResult:
    """What one round did: jobs the scheduler fired (and skipped by a concurrency policy),
    delayed jobs and retries admitted, executions timed out by lease."""

    fired: int = 0
    skipped: int = 0
    admitted: int = 0
    timed_out: int = 0


@dataclass
class DrainResult:
    """Jobs :meth:`ChronosTestServer.drain` ran, by outcome (as the worker logs them)."""

    completed: int = 0
    failed: int = 0  # for good: NonRetryable, or the last attempt
    retried: int = 0  # failed, another attempt is scheduled
    canceled: int = 0
    job_ids: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.completed + self.failed + self.retried + self.canceled


class ChronosTestServer:
    """A Chronos server in this process, for tests. See the module doc."""

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        now: datetime | None = None,
        api_key: str | None = None,
    ) -> None:
        from chronos.server.clock import FakeClock

        start = now or datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            raise ValueError("now must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="chronos-test-"))
        self.database_path = self.directory / "chronos.db"
        self.api_key = api_key or "chrns_test_" + _token()
        self.clock = FakeClock(start)
        self.url = ""
        self._client: Chronos | None = None
        self._http: httpx.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self.runtime: Any = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> ChronosTestServer:
        import uvicorn

        from chronos.server.app import create_app
        from chronos.server.config import Settings
        from chronos.server.runtime import Runtime
        from chronos.server.serve import GracefulServer

        self.directory.mkdir(parents=True, exist_ok=True)
        _copy_migrated_template(self.database_path)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=f"sqlite:///{self.database_path}",
            host="127.0.0.1",
            port=port,
            bootstrap_api_key=self.api_key,
            shutdown_grace_seconds=1.0,
            log_level="warning",
        )
        self.runtime = Runtime(settings, clock=self.clock, run_services=False)
        config = uvicorn.Config(
            create_app(self.runtime),
            log_config=None,  # leave the test's logging alone
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        # Tells the runtime first, so open claim long-polls answer at once on stop().
        self._server = GracefulServer(config, self.runtime)
        failure: list[BaseException] = []

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[sock])

        def run() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # reported by start()
                failure.append(exc)
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="chronos-test-server", daemon=True)
        self._thread.start()
        deadline = _monotonic() + timeout
        while not self._server.started:
            if failure or not self._thread.is_alive():
                raise RuntimeError(f"the embedded Chronos did not start: {failure!r}")
            if _monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the embedded Chronos did not start in {timeout}s")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ChronosTestServer:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    @property
    def client(self) -> Chronos:
        """A sync :class:`chronos.Chronos` for this server (``AsyncChronos(api_key=
        server.api_key, base_url=server.url)`` works too)."""
        if self._client is None:
            self._client = Chronos(api_key=self.api_key, base_url=self.url)
        return self._client

    # --- time -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The server's current time."""
        return self.clock.now()

    def tick(self) -> TickResult:
        """One round of the scheduler, admission and the lease rescuer, at the current time."""
        return self._on_server(self._tick)

    def advance(self, seconds: float = 0, *, tick: bool = True, **kwargs: float) -> TickResult:
        """Move the clock forward (``advance(90)``, ``advance(hours=1)``, any ``timedelta``
        keyword), then run a round (unless ``tick=False``)."""
        step = timedelta(seconds=seconds, **kwargs)
        if step < timedelta(0):
            raise ValueError("time only moves forward; use freeze(at) to set it")
        self.clock.advance(step.total_seconds())
        return self.tick() if tick else TickResult()

    def freeze(self, at: datetime | str) -> None:
        """Set the clock to ``at`` (timezone-aware, or an ISO 8601 string). No round is run:
        call :meth:`tick` (a schedule created before moves on from its own next fire)."""
        instant = datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else at
        if instant.tzinfo is None:
            raise ValueError("freeze needs a timezone-aware time, e.g. datetime(..., tzinfo=UTC)")
        self.clock.set(instant.astimezone(UTC))

    # --- assertions -------------------------------------------------------------------------

    def all_enqueued(
        self,
        *,
        handler: str | None = None,
        payload: Any = None,
        schedule: str | None = None,
        status: str | Iterable[str] | None = None,
        scheduled_for: datetime | None = None,
    ) -> list[Job]:
        """Jobs not yet run (pending, queued or ready; ``status=`` to choose), oldest first,
        that match every filter given. ``payload`` matches when the job's payload contains
        it (a dict's keys recursively, other values equal); ``schedule`` is a name or id."""
        statuses = set(
            ENQUEUED if status is None else [status] if isinstance(status, str) else status
        )
        schedule_id = self._schedule_id(schedule) if schedule is not None else None
        if schedule is not None and schedule_id is None:
            return []
        jobs = [
            job
            for job in self.client.iterate(self.client.jobs.list, handler=handler, limit=500)
            if job.status in statuses
            and (schedule_id is None or job.schedule_id == schedule_id)
            and (payload is None or _contains(job.payload, payload))
            and (scheduled_for is None or job.scheduled_for == scheduled_for)
        ]
        return sorted(jobs, key=lambda job: job.id)

    def assert_enqueued(self, *, count: int | None = None, **filters: Any) -> Job:
        """Fail unless a job matching ``filters`` (as :meth:`all_enqueued`) is enqueued —
        exactly ``count`` of them when given; returns the oldest match."""
        found = self.all_enqueued(**filters)
        if not found or (count is not None and len(found) != count):
            wanted = "a job" if count is None else f"{count} job(s)"
            raise AssertionError(
                f"expected {wanted} enqueued matching {_describe(filters)}, found {len(found)}; "
                f"enqueued: {self._summary()}"
            )
        return found[0]

    def refute_enqueued(self, **filters: Any) -> None:
        """Fail if any job matching ``filters`` (as :meth:`all_enqueued`) is enqueued."""
        found = self.all_enqueued(**filters)
        if found:
            raise AssertionError(
                f"expected no job enqueued matching {_describe(filters)}, found "
                f"{len(found)}: {[_brief(j) for j in found][:10]}"
            )

    # --- running jobs -----------------------------------------------------------------------

    def drain(
        self,
        handlers: Mapping[str, Handler],
        *,
        with_scheduled: bool = False,
        max_jobs: int = 1000,
    ) -> DrainResult:
        """Claim and run every claimable job of ``handlers`` (name → handler, sync or async)
        in this thread, as a worker would, reporting each result; jobs that handlers enqueue
        run too. ``with_scheduled``: also jobs due later (delayed jobs, retries), by moving the
        clock to each one's time. Returns how many ran, by outcome."""
        if not handlers:
            raise ValueError("drain needs at least one handler")
        outcome = DrainResult()
        while outcome.ran < max_jobs:
            claimed = self._claim(sorted(handlers), min(100, max_jobs - outcome.ran))
            if not claimed:
                if with_scheduled and self._advance_to_next(sorted(handlers)):
                    continue
                break
            for job in claimed:
                self._run_claimed(job, handlers[job["handler"]], outcome)
        return outcome

    # --- internals --------------------------------------------------------------------------

    def _on_server(self, make: Callable[[], Awaitable[T]]) -> T:
        if self._loop is None:
            raise RuntimeError("the embedded Chronos is not running: call start()")

        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(60)

    async def _tick(self) -> TickResult:
        from chronos.server.engine.admission import AdmissionService
        from chronos.server.engine.maintenance.lease_rescuer import LeaseRescuer
        from chronos.server.engine.scheduler import Scheduler

        result = TickResult()
        for service in self.runtime.services:
            if isinstance(service, LeaseRescuer):
                while True:
                    rescued = await service.run_once()
                    result.timed_out += rescued.timed_out
                    if not service.has_more(rescued):
                        break
        for service in self.runtime.services:
            if isinstance(service, Scheduler):
                while True:
                    fired = await service.run_once()
                    result.fired += fired.fired
                    result.skipped += fired.skipped
                    if not service.has_more(fired):
                        break
        for service in self.runtime.services:
            if isinstance(service, AdmissionService):
                while True:
                    admitted = await service.run_once()
                    result.admitted += admitted.admitted
                    if not service.has_more(admitted):
                        break
        return result

    def _worker_http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=30,
            )
        return self._http

    def _claim(self, handlers: list[str], limit: int) -> list[dict[str, Any]]:
        response = self._worker_http().post(
            "/v1/worker/jobs/claim",
            json={
                "handlers": handlers,
                "worker_id": "chronos.testing",
                "wait_seconds": 0,
                "limit": limit,
            },
        )
        response.raise_for_status()
        return list(response.json()["jobs"])

    def _run_claimed(self, job: dict[str, Any], handler: Handler, outcome: DrainResult) -> None:
        ctx = JobContext(job)
        outcome.job_ids.append(ctx.job_id)
        try:
            output = handler(ctx)
            if hasattr(output, "__await__"):
                output = run_awaitable(output)
            result: dict[str, Any] = {"status": "completed", "output": _jsonable(output)}
        except NonRetryable as exc:
            result = {"status": "failed", "retryable": False, "error": _error(exc)}
        except Exception as exc:
            result = {"status": "failed", "retryable": True, "error": _error(exc)}
        response = self._worker_http().post(
            f"/v1/worker/executions/{ctx.execution_id}/result", json=result
        )
        if response.status_code == 409:  # canceled while it ran
            outcome.canceled += 1
            return
        response.raise_for_status()
        kind = _outcome(result, job)
        if kind == "ok":
            outcome.completed += 1
        elif kind == "retry":
            outcome.retried += 1
        else:
            outcome.failed += 1

    def _advance_to_next(self, handlers: list[str]) -> bool:
        """Move the clock to the earliest pending job of ``handlers`` and tick; False when
        there is none."""
        times = [
            when
            for name in handlers
            for job in self.all_enqueued(handler=name, status="pending")
            if (when := job.run_at or job.scheduled_for) is not None
        ]
        if not times:
            return False
        target = min(times)
        if target > self.clock.now():
            self.clock.set(target)
        self.tick()
        return True

    def _schedule_id(self, ref: str) -> str | None:
        try:
            return self.client.schedules.get(ref).id
        except NotFoundError:
            return None

    def _summary(self) -> list[dict[str, Any]]:
        return [_brief(job) for job in self.all_enqueued()][:10]


def _brief(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "handler": job.handler,
        "payload": job.payload,
        "schedule_id": job.schedule_id,
        "status": job.status,
    }


def _describe(filters: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in filters.items() if v is not None}
    return ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "anything"


def _contains(actual: Any, expected: Any) -> bool:
    """``expected`` is in ``actual``: dicts by key, recursively; anything else by equality."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _contains(actual[key], value) for key, value in expected.items()
        )
    return bool(actual == expected)


def _token() -> str:
    import secrets

    return secrets.token_urlsafe(18)


def _monotonic() -> float:
    import time

    return time.monotonic()


_template_lock = threading.Lock()
_template: dict[str, Path] = {}


def _copy_migrated_template(target: Path) -> None:
    """A migrated SQLite file at ``target``: migrations run once per process, into a template
    that each server copies (a fresh migration per test would cost most of its start-up)."""
    with _template_lock:
        template = _template.get("path")
        if template is None or not template.exists():
            template = Path(tempfile.mkdtemp(prefix="chronos-test-template-")) / "template.db"
            run_awaitable(_migrate(template))
            _template["path"] = template
    if not target.exists():
        shutil.copyfile(template, target)


async def _migrate(path: Path) -> None:
    from chronos.server.store.db import Database
    from chronos.server.store.migrate import migrate

    db = Database.from_url(f"sqlite:///{path}")
    try:
        await migrate(db)
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.dispose()
