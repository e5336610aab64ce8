"""Everything a running node holds: settings, database, clock, notifier, the service layer
(``runtime.jobs``, ``.schedules``, ``.executions``, ``.accounts``, ``.overview``) and the
engine services.

runtime = Runtime(settings, clock=FakeClock())
await runtime.start()      # migrate (if asked), bootstrap, start services for the roles
...
runtime.begin_shutdown()   # SIGTERM: answer claim long-polls, claim nothing more
await runtime.stop()       # finish or release pushes in flight, stop services, close the db
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from chronos.server.api.limits import LongPollLimiter, RateLimiter
from chronos.server.clock import Clock, SystemClock
from chronos.server.config import Settings
from chronos.server.engine.admission import AdmissionService
from chronos.server.engine.alerts import AlertEvaluator, AlertNotifier
from chronos.server.engine.cluster import PgBridge
from chronos.server.engine.dispatcher import Dispatcher, Drained
from chronos.server.engine.maintenance.lease_rescuer import LeaseRescuer
from chronos.server.engine.maintenance.pruner import Pruner
from chronos.server.engine.scheduler import Scheduler
from chronos.server.engine.service import Service
from chronos.server.engine.supervisor import Runner, Supervisor
from chronos.server.notifier import Notifier
from chronos.server.services.accounts import AccountService
from chronos.server.services.alerts import AlertService
from chronos.server.services.audit import AuditService
from chronos.server.services.backfills import BackfillService
from chronos.server.services.calendars import CalendarService
from chronos.server.services.executions import ExecutionService
from chronos.server.services.jobs import JobService
from chronos.server.services.monitors import MonitorService
from chronos.server.services.overview import OverviewService
from chronos.server.services.schedules import ScheduleService
from chronos.server.services.workers import WorkerService
from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate

log = logging.getLogger("chronos.runtime")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        db: Database | None = None,
        run_services: bool = True,
        on_started: Callable[[Runtime], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db or Database.from_url(settings.database_url)
        self.notifier = Notifier()
        self.run_services = run_services
        self.services: list[Service] = []
        self.supervisor = Supervisor()
        self.bootstrap_key: str | None = None
        self.bridge: PgBridge | None = None
        self.accounts = AccountService(self.db, self.clock)
        self.rate_limiter = (
            RateLimiter(settings.rate_limit_per_second) if settings.rate_limit_per_second else None
        )
        self.long_polls = LongPollLimiter(settings.max_long_polls_per_key)
        self.jobs = JobService(
            self.db,
            self.clock,
            self.notifier,
            max_payload_bytes=settings.max_payload_bytes,
            max_push_timeout=settings.push_max_timeout_seconds,
        )
        self.schedules = ScheduleService(
            self.db,
            self.clock,
            self.notifier,
            max_payload_bytes=settings.max_payload_bytes,
            max_push_timeout=settings.push_max_timeout_seconds,
        )
        self.executions = ExecutionService(self.db, self.clock, self.notifier)
        self.overview = OverviewService(self.db, self.clock)
        self.calendars = CalendarService(self.db, self.clock, self.notifier)
        self.workers = WorkerService(self.db, self.clock)
        self.monitors = MonitorService(self.db, self.clock, self.notifier)
        self.alerts = AlertService(self.db, self.clock, self.notifier)
        self.audit = AuditService(self.db)
        self.backfills = BackfillService(self.db, self.clock, self.notifier)
        self.on_started = on_started
        # Loop time by which pushes in flight must finish; set when the shutdown begins.
        self.shutdown_deadline: float | None = None

    def build_services(self) -> list[Service]:
        roles = self.settings.roles
        services: list[Service] = []
        if "scheduler" in roles:
            services.append(Scheduler(self.db, self.clock, self.notifier))
            services.append(AdmissionService(self.db, self.clock, self.notifier))
            services.append(LeaseRescuer(self.db, self.clock, self.notifier))
            services.append(
                Pruner(
                    self.db,
                    self.clock,
                    self.notifier,
                    retention=timedelta(seconds=self.settings.retention_seconds),
                    audit_retention=timedelta(seconds=self.settings.audit_retention_seconds),
                    alert_retention=timedelta(seconds=self.settings.alert_retention_seconds),
                )
            )
            notifier = AlertNotifier(
                self.db, self.clock, block_private=self.settings.push_block_private
            )
            services.append(
                AlertEvaluator(
                    self.db,
                    self.clock,
                    interval=self.settings.alert_interval_seconds,
                    on_notify=notifier.wakeup.set,
                    on_change=self.notifier.changed,
                )
            )
            services.append(notifier)
        if "dispatcher" in roles:
            services.append(
                Dispatcher(
                    self.db,
                    self.clock,
                    self.notifier,
                    concurrency=self.settings.push_concurrency,
                    account_concurrency=self.settings.push_account_concurrency,
                    block_private=self.settings.push_block_private,
                )
            )
        return services

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await migrate(self.db)
        self.bootstrap_key = await self.accounts.bootstrap(self.settings.bootstrap_api_key)
        self.services = self.build_services()
        if self.run_services:
            runners: list[Runner] = list(self.services)
            if not self.db.is_sqlite:
                self.bridge = PgBridge(self.db.url, self.notifier)
                runners.append(self.bridge)
            self.supervisor.start(runners)
        if self.on_started is not None:
            self.on_started(self)

    def begin_shutdown(self) -> None:
        """Stop taking new work at once (idempotent): open claim long-polls answer with no
        jobs, and the dispatcher claims nothing more. The grace period starts now."""
        if self.shutdown_deadline is not None:
            return
        loop = asyncio.get_running_loop()
        self.shutdown_deadline = loop.time() + self.settings.shutdown_grace_seconds
        self.notifier.shut_down()
        for service in self.services:
            if isinstance(service, Dispatcher):
                service.draining = True

    async def stop(self) -> None:
        """Shut down: pushes in flight get what is left of the grace period to finish and be
        recorded; those that do not are released (queued again at once, for any node)."""
        self.begin_shutdown()
        assert self.shutdown_deadline is not None
        remaining = max(0.0, self.shutdown_deadline - asyncio.get_running_loop().time())
        dispatchers = [s for s in self.services if isinstance(s, Dispatcher)]
        # Services (and the cluster bridge, which carries the releases' wake-ups to the other
        # nodes) keep running while the pushes drain.
        drained = await asyncio.gather(*(d.drain(remaining) for d in dispatchers))
        total = Drained(sum(d.finished for d in drained), sum(d.released for d in drained))
        await self.supervisor.stop()
        for dispatcher in dispatchers:
            await dispatcher.close()
        for service in self.services:
            if isinstance(service, AlertNotifier):
                await service.close()
        await self.db.dispose()
        log.info(
            "shutting down: %d push requests finished, %d released", total.finished, total.released
        )
