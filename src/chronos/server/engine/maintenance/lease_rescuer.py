"""The lease rescuer: a running execution whose lease expired becomes ``timeout``.

The worker (or node) that held it is presumed dead; the job is retried like any failed
attempt (``ExecutionService.expire_leases``, through the one result pipeline), so a crash at
any instant loses nothing. Rows another node is handling are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from chronos.server.clock import Clock
from chronos.server.engine.service import Service
from chronos.server.notifier import Notifier
from chronos.server.services.executions import ExecutionService
from chronos.server.store.db import Database


@dataclass
class RescueRound:
    timed_out: int = 0


class LeaseRescuer(Service):
    name = "lease-rescuer"

    def __init__(
        self, db: Database, clock: Clock, notifier: Notifier, *, batch_size: int = 500
    ) -> None:
        super().__init__(clock, notifier.lease_wakeup)
        self.executions = ExecutionService(db, clock, notifier)
        self.batch_size = batch_size

    async def run_once(self) -> RescueRound:
        return RescueRound(timed_out=await self.executions.expire_leases(self.batch_size))

    def has_more(self, result: RescueRound) -> bool:
        return result.timed_out >= self.batch_size
