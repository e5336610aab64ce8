"""The pruner: finished jobs (and, with them, their executions) older than the retention age
are deleted in small batches, each its own short transaction, so no lock is held for long.

Only final jobs go (completed, failed, canceled, skipped), judged by ``finished_at``. An
idempotency key is freed when its job is pruned. Workers not seen polling for
:data:`WORKER_RETENTION` are forgotten too (the dashboard's workers page), and audit records
older than ``audit_retention`` (``CHRONOS_AUDIT_RETENTION``) are deleted, a batch at a time;
so are alerts resolved before ``alert_retention`` (``CHRONOS_ALERT_RETENTION``) and webhook
notifications made before it that are done with (sent, failed or withdrawn).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chronos.server.clock import Clock
from chronos.server.engine.service import Service
from chronos.server.notifier import Notifier
from chronos.server.store import alerts as alert_store
from chronos.server.store import audit as audit_store
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import jobs as job_store
from chronos.server.store.db import Database

WORKER_RETENTION = timedelta(days=7)


@dataclass
class PruneRound:
    deleted: int = 0
    workers_forgotten: int = 0
    audit_deleted: int = 0
    alerts_deleted: int = 0
    notifications_deleted: int = 0


class Pruner(Service):
    name = "pruner"
    max_idle_seconds = 60.0

    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        *,
        retention: timedelta,
        audit_retention: timedelta = timedelta(days=90),
        alert_retention: timedelta = timedelta(days=90),
        batch_size: int = 1000,
    ) -> None:
        super().__init__(clock)
        self.db = db
        self.retention = retention
        self.audit_retention = audit_retention
        self.alert_retention = alert_retention
        self.batch_size = batch_size

    async def run_once(self) -> PruneRound:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            deleted = await job_store.job_delete_finished_before(
                conn, now - self.retention, self.batch_size
            )
            forgotten = await dashboard_store.workers_forget(conn, now - WORKER_RETENTION)
            audit_deleted = await audit_store.audit_delete_before(
                conn, now - self.audit_retention, self.batch_size
            )
            alert_cutoff = now - self.alert_retention
            notifications_deleted = await alert_store.notifications_delete_done_before(
                conn, alert_cutoff, self.batch_size
            )
            alerts_deleted = await alert_store.alerts_delete_resolved_before(
                conn, alert_cutoff, self.batch_size
            )
        return PruneRound(
            deleted=deleted,
            workers_forgotten=forgotten,
            audit_deleted=audit_deleted,
            alerts_deleted=alerts_deleted,
            notifications_deleted=notifications_deleted,
        )

    def has_more(self, result: PruneRound) -> bool:
        most = max(
            result.deleted,
            result.audit_deleted,
            result.alerts_deleted,
            result.notifications_deleted,
        )
        return most >= self.batch_size
