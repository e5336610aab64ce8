"""Schedules: create, upsert, change, pause/resume, enable/disable, run now, versions, rollback.

Every change that alters a schedule's configuration stores it as a new version, in the same
transaction; the rules themselves (next run, state changes, PATCH merging) are the pure
functions of ``domain/schedules.py``. Schedules are addressed by id or by name.

    schedules = ScheduleService(db, clock, notifier, max_payload_bytes=256 * 1024)
    view, created = await schedules.upsert(account_id, "nightly", {"cron": "0 2 * * *", …})
    await schedules.set_state(account_id, "nightly", ScheduleState.PAUSED)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.clock import Clock
from chronos.server.domain import schedules as rules
from chronos.server.domain.jobs import admitted_status, job_from_schedule
from chronos.server.domain.rows import JobRow, ScheduleRow, ScheduleSpec, ScheduleVersionRow
from chronos.server.domain.states import JobTrigger, ScheduleState
from chronos.server.errors import NotFound, ValidationFailed
from chronos.server.normalize import normalize_schedule
from chronos.server.notifier import Notifier
from chronos.server.schemas import ScheduleIn, validation_details
from chronos.server.store import jobs as job_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.db import Database
from chronos.server.store.errors import UniqueViolation

# The largest version number an INTEGER column holds; larger ones name no version.
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class ScheduleView:
    """A schedule with its recent completed/failed job counts (for its success rate)."""

    row: ScheduleRow
    counts: dict[str, int] | None = None


@dataclass(frozen=True)
class ScheduleFilter:
    state: ScheduleState | None = None
    handler: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class ScheduleService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        *,
        max_payload_bytes: int,
        max_push_timeout: float | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier
        self.max_payload_bytes = max_payload_bytes
        self.max_push_timeout = max_push_timeout

    def parse(self, data: Any) -> ScheduleSpec:
        """A schedule configuration from JSON-like data, validated and normalised."""
        try:
            body = ScheduleIn.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed("invalid schedule", details=validation_details(exc)) from exc
        return normalize_schedule(
            body,
            max_payload_bytes=self.max_payload_bytes,
            max_push_timeout=self.max_push_timeout,
        )

    async def create(self, account_id: str, spec: ScheduleSpec) -> ScheduleView:
        """A new schedule; a taken name is a conflict (the store's ``UniqueViolation``)."""
        row = rules.new_schedule(account_id, spec, self.clock.now())
        async with self.db.transaction() as conn:
            await self._insert(conn, row)
        self.notifier.schedules_changed()
        return ScheduleView(row)

    async def upsert(
        self, account_id: str, name: str, data: dict[str, Any]
    ) -> tuple[ScheduleView, bool]:
        """Create or update by name; True when created. An unchanged configuration makes no
        new version. Declarations racing on one name converge: the loser updates the winner's."""
        if data.get("name", name) != name:
            raise ValidationFailed("the body's name differs from the name in the path")
        spec = self.parse({**data, "name": name})
        now = self.clock.now()
        created = False
        async with self.db.transaction() as conn:
            row = await schedule_store.schedule_get(conn, account_id, name, for_update=True)
            if row is not None and row["name"] != name:
                row = None  # the path named an id; PUT works by name only
            if row is None:
                try:
                    row = rules.new_schedule(account_id, spec, now)
                    await self._insert(conn, row)
                    created = True
                except UniqueViolation:
                    row = await self._load(conn, account_id, name, for_update=True)
            if not created and row["spec"] != spec:
                row = await self._apply_spec(conn, row, spec, now)
            view = await self._view(conn, row)
        self.notifier.schedules_changed()
        return view, created

    async def find(
        self, account_id: str, where: ScheduleFilter, *, cursor: str | None, limit: int
    ) -> tuple[list[ScheduleView], str | None]:
        async with self.db.read() as conn:
            rows, next_cursor = await schedule_store.schedule_list(
                conn,
                account_id,
                state=where.state.value if where.state else None,
                handler=where.handler,
                tags=where.tags,
                cursor=cursor,
                limit=limit,
            )
            rates = await schedule_store.schedule_success_rates(conn, [r["id"] for r in rows])
        return [ScheduleView(r, rates.get(r["id"])) for r in rows], next_cursor

    async def get(self, account_id: str, schedule: str) -> ScheduleView:
        async with self.db.read() as conn:
            return await self._view(conn, await self._load(conn, account_id, schedule))

    async def patch(self, account_id: str, schedule: str, patch: dict[str, Any]) -> ScheduleView:
        """Change some fields; the result is validated whole, and stored as a new version."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            spec = self.parse(rules.patch_base(row["spec"], patch))
            if spec != row["spec"]:
                row = await self._apply_spec(conn, row, spec, now)
            view = await self._view(conn, row)
        self.notifier.schedules_changed()
        return view

    async def delete(self, account_id: str, schedule: str) -> None:
        """Delete a schedule and its versions; its jobs and their history stay."""
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule)
            await schedule_store.schedule_delete(conn, account_id, row["id"])

    async def set_state(
        self, account_id: str, schedule: str, target: ScheduleState | None
    ) -> ScheduleView:
        """Pause, enable or disable; ``target=None`` resumes (back to what ``enabled`` says)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            changes = rules.state_change(row, target or rules.unpaused(row), now)
            if changes:
                if "version" in changes:
                    await schedule_store.schedule_version_insert(
                        conn, row["id"], changes["version"], changes["spec"], now
                    )
                await schedule_store.schedule_update(conn, row["id"], changes)
                row = rules.with_changes(row, changes)
            view = await self._view(conn, row)
        self.notifier.schedules_changed()
        return view

    async def trigger(self, account_id: str, schedule: str) -> JobRow:
        """Run now, whatever the schedule's state: a one-off job with ``trigger: "manual"``."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule)
            status = admitted_status(row["spec"]["delivery"]["type"])
            job = job_from_schedule(row, now, now, status=status, trigger=JobTrigger.MANUAL)
            await job_store.job_insert_many(conn, [job])
        self.notifier.jobs_ready_many([job])
        metrics.JOBS_CREATED.labels(JobTrigger.MANUAL.value).inc()
        return job

    async def upcoming(self, account_id: str, schedule: str, count: int) -> list[datetime]:
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
        return rules.upcoming_fires(row, self.clock.now(), count)

    async def versions(self, account_id: str, schedule: str) -> list[ScheduleVersionRow]:
        """Every configuration the schedule has had, newest first."""
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            return await schedule_store.schedule_version_list(conn, row["id"])

    async def version(self, account_id: str, schedule: str, version: int) -> ScheduleVersionRow:
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            return await self._version(conn, row["id"], version)

    async def rollback(self, account_id: str, schedule: str, version: int) -> ScheduleView:
        """Restore ``version``'s configuration as a new version (nothing if identical). It is
        re-validated: a configuration valid then is checked against today's rules."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            old = await self._version(conn, row["id"], version)
            spec = self.parse({k: v for k, v in old["spec"].items() if v is not None})
            if spec != row["spec"]:
                row = await self._apply_spec(conn, row, spec, now)
            view = await self._view(conn, row)
        self.notifier.schedules_changed()
        return view

    # --- helpers, inside the caller's transaction -----------------------------------------

    @staticmethod
    async def _load(
        conn: AsyncConnection, account_id: str, schedule: str, *, for_update: bool = False
    ) -> ScheduleRow:
        row = await schedule_store.schedule_get(conn, account_id, schedule, for_update=for_update)
        if row is None:
            raise NotFound(f"no schedule {schedule!r}")
        return row

    @staticmethod
    async def _insert(conn: AsyncConnection, row: ScheduleRow) -> None:
        await schedule_store.schedule_insert(conn, row)
        await schedule_store.schedule_version_insert(
            conn, row["id"], row["version"], row["spec"], row["created_at"]
        )

    @staticmethod
    async def _apply_spec(
        conn: AsyncConnection, row: ScheduleRow, spec: ScheduleSpec, now: datetime
    ) -> ScheduleRow:
        changes = rules.spec_change(row, spec, now)
        await schedule_store.schedule_update(conn, row["id"], changes)
        await schedule_store.schedule_version_insert(conn, row["id"], changes["version"], spec, now)
        return rules.with_changes(row, changes)

    @staticmethod
    async def _version(conn: AsyncConnection, schedule_id: str, version: int) -> ScheduleVersionRow:
        row = None
        if 1 <= version <= MAX_VERSION:
            row = await schedule_store.schedule_version_get(conn, schedule_id, version)
        if row is None:
            raise NotFound(f"schedule has no version {version}", code="version_not_found")
        return row

    @staticmethod
    async def _view(conn: AsyncConnection, row: ScheduleRow) -> ScheduleView:
        rates = await schedule_store.schedule_success_rates(conn, [row["id"]])
        return ScheduleView(row, rates.get(row["id"]))
