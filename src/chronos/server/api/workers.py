"""/v1/workers: the pull workers polling this account (with the jobs each is running) and the
push targets of the last hour (success rate, latency)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from chronos.server.api.deps import AccountId, RuntimeDep
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.timing import iso
from chronos.server.services.workers import PushTarget, Worker, WorkersView

router = APIRouter(prefix="/v1/workers", tags=["workers"], route_class=SafeRoute)


def worker_out(worker: Worker) -> dict[str, Any]:
    return {
        "worker_id": worker.worker_id,
        "handlers": worker.handlers,
        "first_seen_at": iso(worker.first_seen_at),
        "last_seen_at": iso(worker.last_seen_at),
        "state": "gone" if worker.gone else "polling",
        "in_flight": worker.in_flight,
    }


def push_target_out(target: PushTarget) -> dict[str, Any]:
    return {
        "target": target.target,
        "count": target.count,
        "completed": target.completed,
        "failed": target.failed,
        "success_rate": target.success_rate,
        "p50_ms": target.p50_ms,
        "p95_ms": target.p95_ms,
        "last_finished_at": iso(target.last_finished_at),
    }


def workers_out(view: WorkersView) -> dict[str, Any]:
    return {
        "at": iso(view.now),
        "workers": [worker_out(w) for w in view.workers],
        "more_workers": view.more_workers,
        "push_targets": [push_target_out(t) for t in view.push_targets],
        "push_sampled": view.push_sampled,
        "push_capped": view.push_capped,
    }


@router.get("")
async def list_workers(
    account_id: AccountId,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Pull workers seen in the last 10 minutes, most recent first (``gone`` when not seen for
    a minute), each with its running jobs; push targets (``scheme://host:port``) of the last
    hour with count, success rate and p50/p95 duration, from at most the newest 5,000 push
    executions."""
    return workers_out(await runtime.workers.activity(account_id, limit=limit))
