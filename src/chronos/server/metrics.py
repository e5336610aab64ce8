"""Prometheus metrics, served at ``GET /metrics`` (open, or behind ``CHRONOS_METRICS_TOKEN``).

Counters and histograms live in the process-wide registry and count as things happen. The
queue gauges are read from the database at scrape time (``services/stats.py``) and rendered
from that one reading by :class:`QueueCollector`, in a registry of the scrape's own, so they
always describe this node's database and a handler whose jobs are gone leaves no stale series::

    body = exposition(await queue_stats(db, clock, max_handlers=100))
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chronos.server.services.stats import QueueStats

JOBS_CREATED = Counter("chronos_jobs_created_total", "Jobs created", ["trigger"])
SLOTS_FIRED = Counter("chronos_slots_fired_total", "Schedule slots turned into runnable jobs")
SLOTS_SKIPPED = Counter(
    "chronos_slots_skipped_total", "Schedule slots skipped or replaced by the concurrency policy"
)
SLOTS_MISSED = Counter(
    "chronos_slots_missed_total", "Schedule slots not run under their misfire policy"
)
SCHEDULE_SLOTS = Counter(
    "chronos_schedule_slots_total",
    "Schedule slots by outcome, as the fire ledger names them: on_time, late (job made more "
    "than 10 s after the slot), skipped (concurrency policy), missed (misfire policy), "
    "excluded (a calendar)",
    ["outcome"],
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
MONITOR_PINGS = Counter(
    "chronos_monitor_pings_total",
    "Heartbeat monitor pings recorded, by kind (ok, start, fail)",
    ["kind"],
)
ALERTS_FIRED = Counter("chronos_alerts_fired_total", "Alerts that fired (paged)", ["condition"])
ALERTS_FIRING = Gauge(
    "chronos_alerts_firing",
    "Alerts firing across the cluster, as of this node's last alert evaluation round",
)
ALERT_NOTIFICATIONS = Counter(
    "chronos_alert_notifications_total",
    "Alert webhook delivery attempts by outcome: sent, retry (will be sent again), failed",
    ["outcome"],
)


class QueueCollector(Collector):
    """The gauges of one reading of the queues."""

    def __init__(self, stats: QueueStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "chronos_jobs_ready", "Pull jobs ready to be claimed, by handler", labels=["handler"]
        )
        ready_oldest = GaugeMetricFamily(
            "chronos_jobs_ready_oldest_seconds",
            "How long the oldest ready pull job has been due (from its run_at), by handler",
            labels=["handler"],
        )
        for handler, backlog in sorted(self.stats.ready.items()):
            ready.add_metric([handler], backlog.count)
            ready_oldest.add_metric([handler], backlog.oldest_seconds)
        yield ready
        yield ready_oldest
        yield GaugeMetricFamily(
            "chronos_jobs_queued",
            "Push jobs waiting for the dispatcher",
            value=self.stats.queued.count,
        )
        yield GaugeMetricFamily(
            "chronos_jobs_queued_oldest_seconds",
            "How long the oldest queued push job has been due (from its run_at)",
            value=self.stats.queued.oldest_seconds,
        )
        by_status = GaugeMetricFamily(
            "chronos_jobs", "Jobs by status, across accounts", labels=["status"]
        )
        for status, count in self.stats.jobs.items():
            by_status.add_metric([status], count)
        yield by_status


def exposition(stats: QueueStats | None) -> bytes:
    """The text exposition: every counter, and the queue gauges unless ``stats`` is None."""
    body = generate_latest(REGISTRY)
    if stats is None:
        return body
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(QueueCollector(stats))
    return body + generate_latest(gauges)
