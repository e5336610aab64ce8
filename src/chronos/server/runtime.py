"""Everything a running node holds: settings, database, clock, notifier and engine services.

runtime = Runtime(settings, clock=FakeClock())
await runtime.start()      # migrate (if asked), bootstrap, start services for the roles
...
await runtime.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from chronos.server.clock import Clock, SystemClock
from chronos.server.config import Settings
from chronos.server.engine.admission import AdmissionService
from chronos.server.engine.cluster import PgBridge
from chronos.server.engine.dispatcher import Dispatcher
from chronos.server.engine.maintenance.lease_rescuer import LeaseRescuer
from chronos.server.engine.maintenance.pruner import Pruner
from chronos.server.engine.notifier import Notifier
from chronos.server.engine.scheduler import Scheduler
from chronos.server.engine.service import Service
from chronos.server.store import accounts as account_store
from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate

log = logging.getLogger("chronos")


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
        self._tasks: list[asyncio.Task[Any]] = []
        self.bootstrap_key: str | None = None
        self.bridge: PgBridge | None = None
        self.key_cache = KeyCache()
        self.on_started = on_started

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
                )
            )
        if "dispatcher" in roles:
            services.append(
                Dispatcher(
                    self.db,
                    self.clock,
                    self.notifier,
                    concurrency=self.settings.push_concurrency,
                    block_private=self.settings.push_block_private,
                )
            )
        return services

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await migrate(self.db)
        self.bootstrap_key = await bootstrap_account(
            self.db, self.clock, self.settings.bootstrap_api_key
        )
        self.services = self.build_services()
        if self.run_services:
            runners: list[Any] = list(self.services)
            if not self.db.is_sqlite:
                self.bridge = PgBridge(self.db.url, self.notifier)
                runners.append(self.bridge)
            for runner in runners:
                task = asyncio.create_task(runner.run(), name=f"chronos:{runner.name}")
                task.add_done_callback(_report_exit)
                self._tasks.append(task)
        if self.on_started is not None:
            self.on_started(self)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for service in self.services:
            if isinstance(service, Dispatcher):
                await service.close()
        await self.db.dispose()


class KeyCache:
    """Recently verified API keys, so a busy worker does not cost a key lookup per request.

    A deleted key is dropped from this node's cache at once; other nodes of a cluster may
    accept it for up to ``ttl_seconds`` more.
    """

    def __init__(self, ttl_seconds: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, account_id: str) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (account_id, time.monotonic() + self.ttl_seconds)

    def forget_account_keys(self, account_id: str) -> None:
        """Drop every cached key of an account (after one of its keys is deleted)."""
        for key in [k for k, (a, _) in self._entries.items() if a == account_id]:
            del self._entries[key]


def _report_exit(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("service %s stopped", task.get_name(), exc_info=task.exception())


async def bootstrap_account(db: Database, clock: Clock, api_key: str | None) -> str | None:
    """On an empty database, create account ``default`` and a key; return the key if new."""
    async with db.read() as conn:
        if await account_store.account_count(conn) > 0:
            return None
    if api_key is not None and not api_key.startswith(account_store.KEY_PREFIX):
        raise ValueError(f"CHRONOS_BOOTSTRAP_API_KEY must start with {account_store.KEY_PREFIX!r}")
    try:
        async with db.transaction() as conn:
            account = await account_store.account_create(conn, "default", clock.now())
            _, plaintext = await account_store.api_key_create(
                conn, account["id"], "bootstrap", clock.now(), plaintext=api_key
            )
    except IntegrityError:  # another node bootstrapped first
        return None
    return plaintext
