"""/v1/worker: the pull protocol — long-poll claim, results, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Request

from chronos.server import metrics
from chronos.server.api.deps import AccountId, RuntimeDep
from chronos.server.api.presenters import claimed_job_out
from chronos.server.engine.outcomes import Ending, apply_endings
from chronos.server.engine.states import ExecutionStatus
from chronos.server.errors import ChronosError, ExecutionNotRunning, NotFound
from chronos.server.runtime import Runtime
from chronos.server.schemas import BatchResultsIn, ClaimIn, ResultIn, iso
from chronos.server.store import executions as execution_store
from chronos.server.store import jobs as job_store

router = APIRouter(prefix="/v1/worker", tags=["worker"])

# A waiting claim re-checks the database this often even without a wake-up, so a lost
# notification delays a job by at most this much instead of stranding it.
FALLBACK_POLL_SECONDS = 5.0


@router.post("/jobs/claim")
async def claim_jobs(
    body: ClaimIn, request: Request, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Return claimable jobs at once, or hold the request until one appears or the wait ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + body.wait_seconds
    while True:
        with runtime.notifier.waiting_for_jobs(account_id, body.handlers) as woken:
            async with runtime.db.transaction() as conn:
                claimed = await job_store.job_claim_ready(
                    conn,
                    account_id=account_id,
                    handlers=body.handlers,
                    limit=body.limit,
                    worker_id=body.worker_id,
                    now=runtime.clock.now(),
                )
            if claimed:
                metrics.JOBS_CLAIMED.inc(len(claimed))
                return {"jobs": [claimed_job_out(job) for job in claimed]}
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {"jobs": []}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(remaining, FALLBACK_POLL_SECONDS))
        if await request.is_disconnected():
            return {"jobs": []}


def _ending(row: dict[str, Any], result: ResultIn) -> Ending:
    return Ending(
        execution=row,
        status=ExecutionStatus(result.status),
        output=result.output,
        error=result.error,
        retryable=result.retryable,
    )


def _check_finishable(row: dict[str, Any] | None, execution_id: str, result: ResultIn) -> bool:
    """True if the result should be applied, False if it repeats one already recorded."""
    if row is None:
        raise NotFound(f"no execution {execution_id!r}")
    if row["status"] == ExecutionStatus.RUNNING:
        return True
    if row["status"] == result.status:
        return False  # the same result twice: accepted, nothing changes
    raise ExecutionNotRunning(
        f"execution {execution_id} is no longer running (it is {row['status']})",
        details={"status": row["status"]},
    )


async def _report(
    runtime: Runtime, account_id: str, items: list[tuple[str, ResultIn]]
) -> list[ChronosError | None]:
    """Apply results in one transaction; each item's error (or None) comes back in order."""
    now = runtime.clock.now()
    errors: list[ChronosError | None] = []
    async with runtime.db.transaction() as conn:
        locked = await execution_store.execution_lock_many(
            conn, account_id, [execution_id for execution_id, _ in items]
        )
        endings = []
        seen: set[str] = set()
        for execution_id, result in items:
            try:
                if execution_id in seen:
                    raise ChronosError(
                        "the batch reports this execution twice",
                        code="duplicate_execution",
                        status=409,
                    )
                seen.add(execution_id)
                if _check_finishable(locked.get(execution_id), execution_id, result):
                    endings.append(_ending(locked[execution_id], result))
                errors.append(None)
            except ChronosError as exc:
                errors.append(exc)
        applied = await apply_endings(conn, endings, now)
    if applied.retries_scheduled:
        runtime.notifier.pending_changed()
    return errors


@router.post("/executions/{execution_id}/result")
async def report_result(
    execution_id: str, body: ResultIn, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Finish an execution. A late result (timed out, canceled) is 409; a repeat is 200."""
    [error] = await _report(runtime, account_id, [(execution_id, body)])
    if error is not None:
        raise error
    return {"execution_id": execution_id, "ok": True, "status": body.status}


@router.post("/results")
async def report_results(
    body: BatchResultsIn, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Report many results in one transaction; each item succeeds or fails on its own."""
    items = [(item.execution_id, item) for item in body.results]
    errors = await _report(runtime, account_id, items)
    return {
        "data": [
            {"execution_id": execution_id, "ok": True}
            if error is None
            else {"execution_id": execution_id, **error.to_body()}
            for (execution_id, _), error in zip(items, errors, strict=True)
        ]
    }


@router.post("/executions/{execution_id}/heartbeat")
async def heartbeat(
    execution_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Extend the lease. ``cancel_requested: true`` tells the worker to stop."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        state = await execution_store.execution_heartbeat(conn, account_id, execution_id, now)
    if state is None:
        raise NotFound(f"no execution {execution_id!r}")
    if state["status"] == ExecutionStatus.CANCELED:
        return {"lease_expires_at": None, "cancel_requested": True}
    if state["status"] != ExecutionStatus.RUNNING:
        raise ExecutionNotRunning(
            f"execution {execution_id} is no longer running (it is {state['status']})",
            details={"status": state["status"]},
        )
    return {
        "lease_expires_at": iso(state["lease_expires_at"]),
        "cancel_requested": bool(state["cancel_requested"]),
    }
