"""/v1/worker: the pull protocol — long-poll claim, results, heartbeats.

Thin: each route parses its input, calls one ``ExecutionService`` method and presents it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from fastapi import APIRouter, Request

from chronos.server.api.deps import AccountId, CallerKey, RuntimeDep
from chronos.server.api.presenters import claimed_job_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.jobs import Result
from chronos.server.domain.states import ExecutionStatus
from chronos.server.domain.timing import iso
from chronos.server.schemas import BatchResultsIn, ClaimIn, ResultIn
from chronos.server.services.executions import Report

router = APIRouter(prefix="/v1/worker", tags=["worker"], route_class=SafeRoute)


@router.post("/jobs/claim")
async def claim_jobs(
    body: ClaimIn, request: Request, account_id: AccountId, key: CallerKey, runtime: RuntimeDep
) -> dict[str, Any]:
    """Return claimable jobs at once, or hold the request until one appears or the wait ends.
    A key may hold ``CHRONOS_MAX_LONG_POLLS_PER_KEY`` waiting claims at once (429 beyond)."""
    waiting = runtime.long_polls.slot(key["key_id"]) if body.wait_seconds > 0 else nullcontext()
    with waiting:
        claimed = await runtime.executions.claim(
            account_id,
            body.handlers,
            limit=body.limit,
            worker_id=body.worker_id,
            wait_seconds=body.wait_seconds,
            disconnected=request.is_disconnected,
        )
    return {"jobs": [claimed_job_out(job) for job in claimed]}


def _reports(items: Sequence[tuple[str, ResultIn]]) -> list[Report]:
    return [
        Report(
            execution_id,
            Result(
                status=ExecutionStatus(result.status),
                output=result.output,
                error=result.error,
                retryable=result.retryable,
            ),
        )
        for execution_id, result in items
    ]


@router.post("/executions/{execution_id}/result")
async def report_result(
    execution_id: str, body: ResultIn, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Finish an execution. A late result (timed out, canceled) is 409; a repeat is 200."""
    [error] = await runtime.executions.finish(account_id, _reports([(execution_id, body)]))
    if error is not None:
        raise error
    return {"execution_id": execution_id, "ok": True, "status": body.status}


@router.post("/results")
async def report_results(
    body: BatchResultsIn, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Report many results in one transaction; each item succeeds or fails on its own."""
    reports = _reports([(item.execution_id, item) for item in body.results])
    errors = await runtime.executions.finish(account_id, reports)
    return {
        "data": [
            {"execution_id": report.execution_id, "ok": True}
            if error is None
            else {"execution_id": report.execution_id, **error.to_body()}
            for report, error in zip(reports, errors, strict=True)
        ]
    }


@router.post("/executions/{execution_id}/heartbeat")
async def heartbeat(
    execution_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Extend the lease. ``cancel_requested: true`` tells the worker to stop."""
    beat = await runtime.executions.heartbeat(account_id, execution_id)
    return {
        "lease_expires_at": iso(beat.lease_expires_at),
        "cancel_requested": beat.cancel_requested,
    }
