"""Rows to API objects. Times are RFC 3339 UTC strings, durations are seconds."""

from __future__ import annotations

from typing import Any

from chronos.server.domain.durations import format_seconds
from chronos.server.domain.ledger import Slot
from chronos.server.domain.preview import Preview
from chronos.server.domain.rows import (
    ApiKeyRow,
    ClaimedJob,
    ExecutionRow,
    JobRow,
    RetryPolicyData,
    ScheduleEventRow,
    ScheduleRow,
    ScheduleSpec,
    ScheduleVersionRow,
)
from chronos.server.domain.schedules import (
    spec_cron_resolved,
    spec_dst_policy,
    spec_exclude_calendars,
    spec_jitter,
    spec_only_calendar,
    spec_spread,
)
from chronos.server.domain.states import ScheduleState
from chronos.server.domain.timing import iso
from chronos.server.store.schedules import RecentRun


def retry_policy_out(policy: RetryPolicyData, max_retries: int) -> dict[str, Any]:
    return {
        "max_attempts": max_retries + 1,
        "initial_interval": format_seconds(policy["initial_interval"]),
        "multiplier": policy["multiplier"],
        "max_interval": format_seconds(policy["max_interval"]),
    }


def schedule_config_out(spec: ScheduleSpec) -> dict[str, Any]:
    """A schedule's configuration, as the user can send it back."""
    return {
        "name": spec["name"],
        "description": spec["description"],
        "handler": spec["handler"],
        "cron": spec["cron"],
        "interval": spec["interval"],
        "timezone": spec["timezone"],
        "start_at": spec["start_at"],
        "end_at": spec["end_at"],
        "payload": spec["payload"],
        "delivery": spec["delivery"],
        "timeout": format_seconds(spec["timeout"]),
        "max_retries": spec["max_retries"],
        "retry_policy": retry_policy_out(spec["retry_policy"], spec["max_retries"]),
        "concurrency": spec["concurrency"],
        "misfire_policy": spec["misfire_policy"],
        "catchup_window": format_seconds(spec["catchup_window"]),
        "tags": spec["tags"],
        "enabled": spec["enabled"],
        "dst_policy": dict(spec_dst_policy(spec)),
        "jitter": format_seconds(spec_jitter(spec)),
        "spread": format_seconds(spec_spread(spec)),
        "exclude_calendars": spec_exclude_calendars(spec),
        "only_calendar": spec_only_calendar(spec),
    }


def schedule_out(
    row: ScheduleRow,
    counts: dict[str, int] | None = None,
    paused: ScheduleEventRow | None = None,
) -> dict[str, Any]:
    """A schedule with its state; ``counts`` are its recent completed/failed jobs, ``paused``
    the event that paused it (who, when, why)."""
    completed = (counts or {}).get("completed", 0)
    finished = completed + (counts or {}).get("failed", 0)
    out = {
        "id": row["id"],
        **schedule_config_out(row["spec"]),
        "cron_resolved": spec_cron_resolved(row["spec"]),
        "state": row["state"],
        "next_run_at": iso(row["next_run_at"]),
        "last_run_at": iso(row["last_run_at"]),
        "last_status": row["last_status"],
        "version": row["version"],
        "success_rate": round(completed / finished, 4) if finished else None,
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if row["state"] == ScheduleState.PAUSED:
        out["paused"] = (
            {"at": iso(paused["at"]), "by": paused["actor"], "note": paused["note"]}
            if paused is not None
            else None
        )
    return out


def schedule_event_out(row: ScheduleEventRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": iso(row["at"]),
        "kind": row["kind"],
        "actor": row["actor"],
        "note": row["note"],
        "details": row["details"],
        "version": row["version"],
    }


def schedule_version_out(row: ScheduleVersionRow) -> dict[str, Any]:
    return {
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "config": schedule_config_out(row["spec"]),
    }


def job_out(row: JobRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "handler": row["handler"],
        "schedule_id": row["schedule_id"],
        "status": row["status"],
        "trigger": row["trigger"],
        "backfill_id": row.get("backfill_id"),
        "payload": row["payload"],
        "delivery": row["delivery"],
        "scheduled_for": iso(row["scheduled_for"]),
        "run_at": iso(row["run_at"]),
        "attempt": row["attempt"],
        "max_retries": row["max_retries"],
        "timeout": format_seconds(row["timeout_seconds"]),
        "retry_policy": retry_policy_out(row["retry_policy"], row["max_retries"]),
        "idempotency_key": row["idempotency_key"],
        "tags": row["tags"],
        "result": row["result"],
        "last_error": row["last_error"],
        "cancel_requested": row["cancel_requested"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "finished_at": iso(row["finished_at"]),
    }


def execution_out(row: ExecutionRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "job_id": row["job_id"],
        "attempt": row["attempt"],
        "status": row["status"],
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
        "duration_ms": row["duration_ms"],
        "worker_id": row["worker_id"],
        "lease_expires_at": iso(row["lease_expires_at"]),
        "http_status": row["http_status"],
        "response_excerpt": row["response_excerpt"],
        "output": row["output"],
        "error": row["error"],
    }


def claimed_job_out(row: ClaimedJob) -> dict[str, Any]:
    return {
        "id": row["id"],
        "execution_id": row["execution_id"],
        "attempt": row["attempt"],
        "name": row["name"],
        "handler": row["handler"],
        "payload": row["payload"],
        "schedule_id": row["schedule_id"],
        "scheduled_for": iso(row["scheduled_for"]),
        "trigger": row["trigger"],
        "tags": row["tags"],
        "timeout": format_seconds(row["timeout_seconds"]),
        # A worker tells a last failed attempt ("failed") from one to be retried ("retry").
        "max_retries": row["max_retries"],
        "lease_expires_at": iso(row["lease_expires_at"]),
        # The W3C trace context the job was created in (null unless tracing was on): the
        # worker's handler span continues it.
        "traceparent": row.get("traceparent"),
    }


def api_key_out(row: ApiKeyRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "scope": row["scope"],
        "created_at": iso(row["created_at"]),
        "last_used_at": iso(row["last_used_at"]),
    }


def page_out(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": next_cursor}


def recent_run_out(row: RecentRun) -> dict[str, Any]:
    return {"id": row["id"], "status": row["status"], "scheduled_for": iso(row["scheduled_for"])}


def slot_out(slot: Slot) -> dict[str, Any]:
    """A slot of a schedule's fire ledger: when, what became of it, and why."""
    return {
        "at": iso(slot.at),
        "outcome": slot.outcome.value,
        "lag_seconds": slot.lag_seconds,
        "job_id": slot.job_id,
        "job_status": slot.job_status,
        "reason": slot.reason,
        "version": slot.version,
    }


def schedule_run_out(job: JobRow, execution: ExecutionRow | None) -> dict[str, Any]:
    """One of a schedule's jobs with its latest execution (null before its first claim)."""
    return {**job_out(job), "last_execution": execution_out(execution) if execution else None}


def preview_timing_out(preview: Preview) -> dict[str, Any]:
    """A preview's per-fire detail (``data``/``local`` stay as they were): what the DST
    policy did to each fire, the local times it skips, the cron with its ``H`` terms
    resolved and the spread offset (docs/dst.md, docs/jitter.md)."""
    notes = preview.dst_notes + [None] * (len(preview.fires) - len(preview.dst_notes))
    return {
        "fires": [
            {"at": iso(fire), "local": local.isoformat(), "dst": note}
            for fire, local, note in zip(preview.fires, preview.local, notes, strict=False)
        ],
        "dst_skipped": [wall.isoformat() for wall in preview.dst_skipped],
        "cron_resolved": preview.cron_resolved,
        "spread_offset": preview.spread_offset,
    }
