"""Prometheus metrics, served at ``GET /metrics`` (no authentication, like ``/health``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_CREATED = Counter("chronos_jobs_created_total", "Jobs created", ["trigger"])
SLOTS_FIRED = Counter("chronos_slots_fired_total", "Schedule slots turned into runnable jobs")
SLOTS_SKIPPED = Counter(
    "chronos_slots_skipped_total", "Schedule slots skipped or replaced by the concurrency policy"
)
SLOTS_MISSED = Counter(
    "chronos_slots_missed_total", "Schedule slots not run under their misfire policy"
)
FIRE_LAG = Histogram(
    "chronos_fire_lag_seconds",
    "Delay between a slot's time and its job's creation",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 30, 60),
)
JOBS_CLAIMED = Counter("chronos_jobs_claimed_total", "Jobs claimed by pull workers")
EXECUTIONS_FINISHED = Counter(
    "chronos_executions_finished_total", "Executions that ended", ["status"]
)
PUSH_REQUESTS = Counter("chronos_push_requests_total", "Push requests sent", ["outcome"])
PUSH_DURATION = Histogram(
    "chronos_push_duration_seconds",
    "Push request duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SERVICE_RESTARTS = Counter(
    "chronos_service_restarts_total",
    "Background services restarted by the supervisor after a crash or unexpected return",
    ["service"],
)
