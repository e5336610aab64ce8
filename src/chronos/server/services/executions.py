"""Executions: claiming jobs, and the one path by which an execution ends.

Every ending — a worker's result, a push response, an expired lease — goes through
:func:`finish_executions` inside the caller's transaction: it records the executions, applies
the retry rule to their jobs (``domain.jobs.job_outcome``), updates the schedules' last status
and counts the metrics. :meth:`ExecutionService.finish` (worker API and dispatcher) and
:meth:`ExecutionService.expire_leases` (lease rescuer) differ only in how they find and lock the
executions; both announce retries once the transaction has committed.

    executions = ExecutionService(db, clock, notifier)
    jobs = await executions.claim(account_id, ["send-email"], limit=10, worker_id="w1", wait=20)
    done = Report(jobs[0]["execution_id"], Result(ExecutionStatus.COMPLETED))
    errors = await executions.finish(account_id, [done])
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.errors import ChronosError
from chronos.server import events, metrics, telemetry
from chronos.server.clock import Clock
from chronos.server.domain.jobs import Ending, Result, job_outcome, normalize_error
from chronos.server.domain.jsonsafe import storable, storable_text
from chronos.server.domain.rows import ClaimedJob, ExecutionEnd, JobOutcome, LockedExecution
from chronos.server.domain.states import ExecutionStatus, JobStatus
from chronos.server.errors import ExecutionNotRunning, NotFound, UnrecordableResult
from chronos.server.notifier import Notifier
from chronos.server.store import claims
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import executions as execution_store
from chronos.server.store import jobs as job_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.db import Database
from chronos.server.store.errors import is_database_outage
from chronos.server.store.executions import Completion

log = logging.getLogger("chronos.executions")

# A waiting claim re-checks the database this often even without a wake-up, so a lost
# notification delays a job by at most this much instead of stranding it.
FALLBACK_POLL_SECONDS = 5.0

# A polling worker's ``last_seen_at`` is written at most this often per node (the dashboard's
# workers page reads it): a worker costs one small write every few seconds, not one per poll.
WORKER_SEEN_EVERY_SECONDS = 5.0

LEASE_EXPIRED_ERROR = {
    "type": "timeout",
    "message": "no result before the lease expired (the job's timeout)",
}


@dataclass(frozen=True)
class Report:
    """A result reported for one execution: by a worker, or by the dispatcher for a push."""

    execution_id: str
    result: Result


@dataclass
class Finished:
    """What :func:`finish_executions` did."""

    retries_scheduled: int = 0
    completed: int = 0
    failed: int = 0
    endings: list[Ending] = field(default_factory=list)
    outcomes: list[JobOutcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.retries_scheduled + self.completed + self.failed


@dataclass(frozen=True)
class Heartbeat:
    lease_expires_at: datetime | None
    cancel_requested: bool


def _duration_ms(ending: Ending, now: datetime) -> int:
    if ending.result.duration_ms is not None:
        return ending.result.duration_ms
    return max(0, int((now - ending.execution["started_at"]).total_seconds() * 1000))


async def finish_executions(
    conn: AsyncConnection, endings: list[Ending], now: datetime
) -> Finished:
    """Record ``endings`` on their executions, jobs and schedules, in the caller's transaction.

    The executions must be locked and ``running``. A job canceled meanwhile keeps its status
    (the store's guarded update touches only running jobs).
    """
    finished = Finished()
    if not endings:
        return finished
    ends: list[ExecutionEnd] = [
        {
            "id": e.execution["id"],
            "status": e.result.status.value,
            "finished_at": now,
            "duration_ms": _duration_ms(e, now),
            "output": e.result.output,
            # What a push endpoint answered (and errors built from it) is whatever it sent:
            # repaired here so that it can be stored on either database.
            "error": storable(normalize_error(e.result.error)),
            "http_status": e.result.http_status,
            "response_excerpt": (
                storable_text(e.result.response_excerpt)
                if e.result.response_excerpt is not None
                else None
            ),
        }
        for e in endings
    ]
    await execution_store.execution_finish_many(conn, ends)
    outcomes = [job_outcome(e, now) for e in endings]
    await job_store.job_apply_outcomes(conn, outcomes)
    finished.endings, finished.outcomes = endings, outcomes
    last_status: dict[str, str] = {}
    for ending, outcome in zip(endings, outcomes, strict=True):
        metrics.EXECUTIONS_FINISHED.labels(ending.result.status.value).inc()
        if outcome["status"] == JobStatus.PENDING:
            finished.retries_scheduled += 1
            continue
        if outcome["status"] == JobStatus.COMPLETED:
            finished.completed += 1
        else:
            finished.failed += 1
        if ending.execution["schedule_id"]:
            last_status[ending.execution["schedule_id"]] = outcome["status"]
    await schedule_store.schedule_set_last_status_many(conn, last_status)
    return finished


def _check_finishable(row: LockedExecution | None, report: Report) -> bool:
    """True if the report should be applied, False if it repeats one already recorded."""
    if row is None:
        raise NotFound(f"no execution {report.execution_id!r}")
    if row["status"] == ExecutionStatus.RUNNING:
        return True
    if row["status"] == report.result.status:
        return False  # the same result twice: accepted, nothing changes
    raise ExecutionNotRunning(
        f"execution {report.execution_id} is no longer running (it is {row['status']})",
        details={"status": row["status"]},
    )


def _plain_success(result: Result) -> bool:
    """A worker's success with nothing else to record: what most results are."""
    return (
        result.status is ExecutionStatus.COMPLETED
        and result.error is None
        and result.http_status is None
        and result.response_excerpt is None
    )


class ExecutionService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier
        # (account, worker) → when this node last wrote its last_seen_at.
        self._workers_written: dict[tuple[str, str], datetime] = {}

    async def claim(
        self,
        account_id: str,
        handlers: list[str],
        *,
        limit: int,
        worker_id: str | None,
        wait_seconds: float = 0.0,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> list[ClaimedJob]:
        """Claim ready jobs at once, or wait up to ``wait_seconds`` for one to appear.

        The waiter registers before each look, so a job made ready in between wakes it.
        ``disconnected`` ends the wait early when the caller has gone away. Once the node is
        shutting down (``notifier.shutting_down``, which also wakes the waiter) the answer is
        no jobs, at once: the worker's next poll goes to another node.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        shutting_down = self.notifier.shutting_down
        if worker_id is not None:
            await self._worker_seen(account_id, worker_id, handlers)
        while True:
            if shutting_down.is_set():
                return []
            with self.notifier.waiting_for_jobs(account_id, handlers) as woken:
                started_ns = telemetry.now_ns() if telemetry.ENABLED else 0
                async with self.db.statement() as conn:  # the claim is one statement
                    claimed = await claims.job_claim_ready(
                        conn,
                        account_id=account_id,
                        handlers=handlers,
                        limit=limit,
                        worker_id=worker_id,
                        now=self.clock.now(),
                    )
                if claimed:
                    if len(set(handlers)) > 1 and len(claimed) == limit and not self.db.is_sqlite:
                        # A claim over several handlers holds, for the length of its
                        # statement, rows it did not take (store/claims.py): a claim that
                        # looked meanwhile, here or on another node, may have found nothing,
                        # and jobs may remain. (SQLite has one writer and no row locks.)
                        self.notifier.wake_claimers(account_id, handlers)
                    if telemetry.ENABLED:
                        telemetry.jobs_claimed(claimed, worker_id, started_ns)
                    metrics.JOBS_CLAIMED.inc(len(claimed))
                    events.jobs_claimed(claimed, worker_id)
                    self.notifier.changed(account_id, "jobs")
                    return claimed
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, FALLBACK_POLL_SECONDS)):
                        await woken.wait()
            if disconnected is not None and await disconnected():
                return []

    async def _worker_seen(
        self,
        account_id: str,
        worker_id: str,
        handlers: list[str],
        *,
        claimed: bool = True,
    ) -> None:
        key = (account_id, worker_id)
        written = self._workers_written.get(key)
        now = self.clock.now()
        if written is not None and (now - written).total_seconds() < WORKER_SEEN_EVERY_SECONDS:
            return
        if len(self._workers_written) > 10_000:  # bounded: forget the oldest half
            oldest = sorted(self._workers_written.items(), key=lambda item: item[1])
            self._workers_written = dict(oldest[5_000:])
        async with self.db.transaction() as conn:
            await dashboard_store.worker_seen(
                conn, account_id, worker_id, handlers, now, claimed=claimed
            )
        self._workers_written[key] = now
        if written is None:
            self.notifier.changed(account_id, "workers")

    async def finish(
        self, account_id: str | None, reports: Sequence[Report]
    ) -> list[ChronosError | None]:
        """Apply results; each report's error (or None) comes back in order.

        A worker's plain successes go first, together (:meth:`_complete_at_once`); every
        other report is locked, checked and recorded in one transaction. Each report stands
        alone (so a crash between the two parts leaves the worker to resend a batch whose
        first part is now a repeat, which is accepted).

        ``account_id`` scopes the lookup to one account (None: the dispatcher's own jobs). A
        repeated result is accepted and changes nothing; a result for an execution that ended
        otherwise (timed out, canceled) is :class:`ExecutionNotRunning`. Should the database
        refuse the batch (a value it cannot store), each report is recorded on its own, so one
        bad result cannot sink the others.
        """
        done: set[str] = set()
        if account_id is not None:
            done = await self._complete_at_once(account_id, reports)
        if done:
            rest = [report for report in reports if report.execution_id not in done]
            errors = iter(await self._finish_each_way(account_id, rest) if rest else [])
            return [None if r.execution_id in done else next(errors) for r in reports]
        return await self._finish_each_way(account_id, reports)

    async def _finish_each_way(
        self, account_id: str | None, reports: Sequence[Report]
    ) -> list[ChronosError | None]:
        """The general path: lock, check and record ``reports`` together; should the database
        refuse the batch, each on its own."""
        try:
            return await self._finish_together(account_id, reports)
        except DBAPIError as exc:
            if len(reports) == 1 or is_database_outage(exc):
                raise
            log.warning("a batch of %d results was refused; recording each alone", len(reports))
        errors: list[ChronosError | None] = []
        for report in reports:
            try:
                [error] = await self._finish_together(account_id, [report])
            except DBAPIError as exc:
                if is_database_outage(exc):
                    raise
                error = UnrecordableResult(
                    "the database refused this result", details={"reason": type(exc).__name__}
                )
            errors.append(error)
        return errors

    async def _complete_at_once(self, account_id: str, reports: Sequence[Report]) -> set[str]:
        """The batch's plain successes (completed, no error) at once, without the general
        path's per-report checks: on PostgreSQL one statement outside a transaction block (one
        round trip instead of a transaction's five), on SQLite one write transaction. Returns
        the execution ids it completed; the rest (and every report, should the database refuse
        the statement: then nothing changed) take the general path, which also explains the
        ones that were not running."""
        successes = [
            Completion(report.execution_id, report.result.output, report.result.duration_ms)
            for report in reports
            if _plain_success(report.result)
        ]
        ids = [completion.execution_id for completion in successes]
        if not successes or len(set(ids)) != len(ids):
            return set()  # a batch naming an execution twice: the general path answers it
        now = self.clock.now()
        started_ns = telemetry.now_ns() if telemetry.ENABLED else 0
        try:
            # One statement on PostgreSQL; on SQLite statement() is a write transaction, in
            # which the store's read and updates commit together.
            async with self.db.statement() as conn:
                completed = await execution_store.execution_complete_many(
                    conn, account_id, successes, now
                )
        except DBAPIError as exc:
            if is_database_outage(exc):
                raise
            return set()  # e.g. an output the database cannot store: the general path sorts it
        results = {report.execution_id: report.result for report in reports}
        endings = [Ending(row, results[row["id"]]) for row in completed]
        finished = Finished(completed=len(endings), endings=endings)
        finished.outcomes = [job_outcome(ending, now) for ending in endings]
        metrics.EXECUTIONS_FINISHED.labels(ExecutionStatus.COMPLETED.value).inc(len(endings))
        self._announce(finished, started_ns)
        return {row["id"] for row in completed}

    async def _finish_together(
        self, account_id: str | None, reports: Sequence[Report]
    ) -> list[ChronosError | None]:
        now = self.clock.now()
        started_ns = telemetry.now_ns() if telemetry.ENABLED else 0
        errors: list[ChronosError | None] = []
        async with self.db.transaction() as conn:
            locked = await execution_store.execution_lock_many(
                conn, account_id, [report.execution_id for report in reports]
            )
            endings = []
            seen: set[str] = set()
            for report in reports:
                try:
                    if report.execution_id in seen:
                        raise ChronosError(
                            "the batch reports this execution twice",
                            code="duplicate_execution",
                            status=409,
                        )
                    seen.add(report.execution_id)
                    row = locked.get(report.execution_id)
                    if _check_finishable(row, report):
                        assert row is not None
                        endings.append(Ending(row, report.result))
                    errors.append(None)
                except ChronosError as exc:
                    errors.append(exc)
            finished = await finish_executions(conn, endings, now)
        self._announce(finished, started_ns)
        return errors

    async def expire_leases(self, limit: int) -> int:
        """Time out running executions whose lease expired (their worker or node is presumed
        dead); their jobs are retried like any failed attempt. Returns how many expired."""
        now = self.clock.now()
        started_ns = telemetry.now_ns() if telemetry.ENABLED else 0
        async with self.db.transaction() as conn:
            expired = await execution_store.execution_lock_expired(conn, now, limit)
            expiry = Result(ExecutionStatus.TIMEOUT, error=LEASE_EXPIRED_ERROR)
            endings = [Ending(row, expiry) for row in expired]
            finished = await finish_executions(conn, endings, now)
        self._announce(finished, started_ns)
        return len(expired)

    async def heartbeat(self, account_id: str, execution_id: str) -> Heartbeat:
        """Extend a running execution's lease; tell its worker whether to stop."""
        async with self.db.transaction() as conn:
            state = await execution_store.execution_heartbeat(
                conn, account_id, execution_id, self.clock.now()
            )
        if state is None:
            raise NotFound(f"no execution {execution_id!r}")
        if state["worker_id"] is not None and state["status"] == ExecutionStatus.RUNNING:
            # A worker busy with a long job claims nothing for a while: its heartbeats say it
            # is alive.
            handlers = [state["handler"]] if state["handler"] else []
            await self._worker_seen(account_id, state["worker_id"], handlers, claimed=False)
        if state["status"] == ExecutionStatus.CANCELED:
            return Heartbeat(lease_expires_at=None, cancel_requested=True)
        if state["status"] != ExecutionStatus.RUNNING:
            raise ExecutionNotRunning(
                f"execution {execution_id} is no longer running (it is {state['status']})",
                details={"status": state["status"]},
            )
        return Heartbeat(state["lease_expires_at"], bool(state["cancel_requested"]))

    def _announce(self, finished: Finished, started_ns: int = 0) -> None:
        """After the commit: wake-ups, event lines (and result spans, while tracing is on)."""
        events.executions_finished(finished.endings, finished.outcomes)
        if telemetry.ENABLED and finished.endings:
            telemetry.results_recorded(finished.endings, finished.outcomes, started_ns)
        if finished.retries_scheduled:
            self.notifier.pending_changed()
        scheduled = any(ending.execution["schedule_id"] for ending in finished.endings)
        for account_id in {ending.execution["account_id"] for ending in finished.endings}:
            self.notifier.changed(account_id, "jobs")
            if scheduled:
                self.notifier.changed(account_id, "schedules")
