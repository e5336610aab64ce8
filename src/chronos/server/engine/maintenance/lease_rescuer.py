"""The lease rescuer: a running execution whose lease expired becomes ``timeout``.

The worker (or node) that held it is presumed dead; the job is retried like any failed
attempt, so a crash at any instant loses nothing. Rows another node is handling are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from chronos.server.clock import Clock
from chronos.server.engine.notifier import Notifier
from chronos.server.engine.outcomes import Applied, Ending, apply_endings
from chronos.server.engine.service import Service
from chronos.server.engine.states import ExecutionStatus
from chronos.server.store import executions as execution_store
from chronos.server.store.db import Database


@dataclass
class RescueRound:
    timed_out: int = 0
    applied: Applied | None = None


class LeaseRescuer(Service):
    name = "lease-rescuer"

    def __init__(
        self, db: Database, clock: Clock, notifier: Notifier, *, batch_size: int = 500
    ) -> None:
        super().__init__(clock, notifier.lease_wakeup)
        self.db = db
        self.notifier = notifier
        self.batch_size = batch_size

    async def run_once(self) -> RescueRound:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            expired = await execution_store.execution_lock_expired(conn, now, self.batch_size)
            endings = [
                Ending(
                    execution=row,
                    status=ExecutionStatus.TIMEOUT,
                    error={
                        "type": "timeout",
                        "message": "no result before the lease expired (the job's timeout)",
                    },
                )
                for row in expired
            ]
            applied = await apply_endings(conn, endings, now)
        if applied.retries_scheduled:
            self.notifier.pending_changed()
        return RescueRound(timed_out=len(expired), applied=applied)

    def has_more(self, result: RescueRound) -> bool:
        return result.timed_out >= self.batch_size
