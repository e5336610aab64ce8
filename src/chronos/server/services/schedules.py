"""Schedules: create, upsert, change, pause/resume, enable/disable, run now, versions, rollback.

Every change that alters a schedule's configuration stores it as a new version, in the same
transaction; the rules themselves (next run, state changes, PATCH merging) are the pure
functions of ``domain/schedules.py``. Schedules are addressed by id or by name.

    schedules = ScheduleService(db, clock, notifier, max_payload_bytes=256 * 1024)
    view, created = await schedules.upsert(account_id, "nightly", {"cron": "0 2 * * *", …})
    await schedules.set_state(account_id, "nightly", ScheduleState.PAUSED, note="migrating")

Each change is also recorded as a schedule event (who, when, the pause note) and in the audit
log (who, what changed, why) in the same transaction: ``actor`` (``domain.audit.Actor``) names
who made it; ``str(actor)`` is the text a schedule event keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.clock import Clock
from chronos.server.domain import schedules as rules
from chronos.server.domain.audit import Actor
from chronos.server.domain.calendars import Calendar
from chronos.server.domain.jobs import admitted_status, job_from_schedule
from chronos.server.domain.ledger import (
    DEFAULT_SPAN,
    MAX_SLOTS,
    MAX_SPAN,
    Ledger,
    build_ledger,
)
from chronos.server.domain.preview import Preview, preview_schedule
from chronos.server.domain.rows import (
    ExecutionRow,
    JobRow,
    ScheduleEventRow,
    ScheduleRow,
    ScheduleSpec,
    ScheduleVersionRow,
)
from chronos.server.domain.states import JobTrigger, ScheduleEventKind, ScheduleState
from chronos.server.domain.thresholds import LATE_AFTER_SECONDS
from chronos.server.errors import BadRequest, NotFound, ValidationFailed
from chronos.server.ids import new_id
from chronos.server.normalize import normalize_schedule
from chronos.server.notifier import Notifier
from chronos.server.schemas import ScheduleIn, validation_details
from chronos.server.services.calendars import link_calendars, named_calendars
from chronos.server.store import dashboard as dashboard_store
from chronos.server.store import jobs as job_store
from chronos.server.store import ledger as ledger_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.audit import audit_change
from chronos.server.store.db import Database
from chronos.server.store.errors import UniqueViolation
from chronos.server.store.schedules import RecentRun

# The largest version number an INTEGER column holds; larger ones name no version.
MAX_VERSION = 2**31 - 1
MAX_NOTE_LENGTH = 1000
# A run history strip: how many runs by default and at most, for how many schedules at once.
RECENT_RUNS = 30
MAX_RECENT_RUNS = 100
MAX_RECENT_RUN_SCHEDULES = 100

_STATE_EVENTS = {
    ScheduleState.PAUSED: ScheduleEventKind.PAUSED,
    ScheduleState.ENABLED: ScheduleEventKind.ENABLED,
    ScheduleState.DISABLED: ScheduleEventKind.DISABLED,
}
# The audit log's verb for each schedule event a user's change makes.
_AUDIT_VERBS = {
    ScheduleEventKind.CREATED: "created",
    ScheduleEventKind.UPDATED: "updated",
    ScheduleEventKind.PAUSED: "paused",
    ScheduleEventKind.RESUMED: "resumed",
    ScheduleEventKind.ENABLED: "enabled",
    ScheduleEventKind.DISABLED: "disabled",
    ScheduleEventKind.ROLLED_BACK: "rolled_back",
    ScheduleEventKind.TRIGGERED: "triggered",
}


@dataclass(frozen=True)
class ScheduleView:
    """A schedule with its recent completed/failed job counts (for its success rate) and,
    when paused, the event that paused it (who, when, the note)."""

    row: ScheduleRow
    counts: dict[str, int] | None = None
    paused: ScheduleEventRow | None = None

    @property
    def success_rate(self) -> float | None:
        """Completed among the recent finished jobs; None before any has finished."""
        completed = (self.counts or {}).get("completed", 0)
        finished = completed + (self.counts or {}).get("failed", 0)
        return completed / finished if finished else None


@dataclass(frozen=True)
class ScheduleFilter:
    state: ScheduleState | None = None
    handler: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    search: str | None = None  # a case-insensitive substring of the name


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

    async def create(
        self, account_id: str, spec: ScheduleSpec, *, actor: Actor | None = None
    ) -> ScheduleView:
        """A new schedule; a taken name is a conflict (the store's ``UniqueViolation``)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            calendars = await named_calendars(conn, account_id, spec, lock=True)
            row = rules.new_schedule(account_id, spec, now, calendars)
            await self._insert(conn, row, actor)
        self._changed(account_id)
        return ScheduleView(row)

    async def upsert(
        self, account_id: str, name: str, data: dict[str, Any], *, actor: Actor | None = None
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
                    calendars = await named_calendars(conn, account_id, spec, lock=True)
                    row = rules.new_schedule(account_id, spec, now, calendars)
                    await self._insert(conn, row, actor)
                    created = True
                except UniqueViolation:
                    row = await self._load(conn, account_id, name, for_update=True)
            if not created and row["spec"] != spec:
                before = row
                row = await self._apply_spec(conn, row, spec, now)
                await self._record(conn, row, ScheduleEventKind.UPDATED, now, actor, before=before)
            view = await self._view(conn, row)
        self._changed(account_id)
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
                search=where.search,
                cursor=cursor,
                limit=limit,
            )
            rates = await schedule_store.schedule_success_rates(conn, [r["id"] for r in rows])
        return [ScheduleView(r, rates.get(r["id"])) for r in rows], next_cursor

    async def get(self, account_id: str, schedule: str) -> ScheduleView:
        async with self.db.read() as conn:
            return await self._view(conn, await self._load(conn, account_id, schedule))

    async def patch(
        self,
        account_id: str,
        schedule: str,
        patch: dict[str, Any],
        *,
        actor: Actor | None = None,
    ) -> ScheduleView:
        """Change some fields; the result is validated whole, and stored as a new version."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            spec = self.parse(rules.patch_base(row["spec"], patch))
            if spec != row["spec"]:
                before = row
                row = await self._apply_spec(conn, row, spec, now)
                await self._record(conn, row, ScheduleEventKind.UPDATED, now, actor, before=before)
            view = await self._view(conn, row)
        self._changed(account_id)
        return view

    async def delete(self, account_id: str, schedule: str, *, actor: Actor | None = None) -> None:
        """Delete a schedule and its versions; its jobs and their history stay (and so does
        the audit log's record of it)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            await schedule_store.schedule_delete(conn, account_id, row["id"])
            await _audit(conn, row, "deleted", now, actor, before=_audited(row), after=None)
        self._changed(account_id)

    async def set_state(
        self,
        account_id: str,
        schedule: str,
        target: ScheduleState | None,
        *,
        actor: Actor | None = None,
        note: str | None = None,
    ) -> ScheduleView:
        """Pause, enable or disable; ``target=None`` resumes (back to what ``enabled`` says).
        ``note`` (why) is kept with the event and shown with a paused schedule; it is also the
        audit record's reason (the actor's own reason otherwise)."""
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            raise ValidationFailed(f"note: at most {MAX_NOTE_LENGTH} characters")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            calendars = await named_calendars(
                conn, account_id, row["spec"], strict=False, lock=True
            )
            changes = rules.state_change(row, target or rules.unpaused(row), now, calendars)
            if changes:
                if "version" in changes:
                    await schedule_store.schedule_version_insert(
                        conn, row["id"], changes["version"], changes["spec"], now
                    )
                await schedule_store.schedule_update(conn, row["id"], changes)
                before, row = row, rules.with_changes(row, changes)
                kind = ScheduleEventKind.RESUMED if target is None else _STATE_EVENTS[target]
                await self._record(conn, row, kind, now, actor, note or None, before=before)
            view = await self._view(conn, row)
        self._changed(account_id)
        return view

    async def trigger(
        self, account_id: str, schedule: str, *, actor: Actor | None = None
    ) -> JobRow:
        """Run now, whatever the schedule's state: a one-off job with ``trigger: "manual"``."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule)
            status = admitted_status(row["spec"]["delivery"]["type"])
            job = job_from_schedule(row, now, now, status=status, trigger=JobTrigger.MANUAL)
            await job_store.job_insert_many(conn, [job])
            await self._record(conn, row, ScheduleEventKind.TRIGGERED, now, actor)
            await _audit(
                conn, row, "triggered", now, actor, before=None, after={"job_id": job["id"]}
            )
        self.notifier.jobs_ready_many([job])
        metrics.JOBS_CREATED.labels(JobTrigger.MANUAL.value).inc()
        return job

    async def upcoming(self, account_id: str, schedule: str, count: int) -> list[datetime]:
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            calendars = await named_calendars(conn, account_id, row["spec"], strict=False)
        return rules.upcoming_fires(row, self.clock.now(), count, calendars)

    async def versions(self, account_id: str, schedule: str) -> list[ScheduleVersionRow]:
        """Every configuration the schedule has had, newest first."""
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            return await schedule_store.schedule_version_list(conn, row["id"])

    async def version(self, account_id: str, schedule: str, version: int) -> ScheduleVersionRow:
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            return await self._version(conn, row["id"], version)

    async def rollback(
        self, account_id: str, schedule: str, version: int, *, actor: Actor | None = None
    ) -> ScheduleView:
        """Restore ``version``'s configuration as a new version (nothing if identical). It is
        re-validated: a configuration valid then is checked against today's rules."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, schedule, for_update=True)
            old = await self._version(conn, row["id"], version)
            spec = self.parse({k: v for k, v in old["spec"].items() if v is not None})
            if spec != row["spec"]:
                before = row
                row = await self._apply_spec(conn, row, spec, now)
                note = f"rolled back to version {version}"
                kind = ScheduleEventKind.ROLLED_BACK
                await self._record(conn, row, kind, now, actor, note, before=before)
            view = await self._view(conn, row)
        self._changed(account_id)
        return view

    async def events(
        self, account_id: str, schedule: str, *, limit: int = 100
    ) -> list[ScheduleEventRow]:
        """What happened to the schedule (created, changed, paused, …), newest first."""
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            return await dashboard_store.schedule_event_list(conn, row["id"], limit=limit)

    def _changed(self, account_id: str) -> None:
        self.notifier.schedules_changed()
        self.notifier.changed(account_id, "schedules")

    async def preview(self, data: Any, count: int, account_id: str | None = None) -> Preview:
        """An unsaved schedule's next ``count`` fires, in words, with DST warnings; nothing
        is stored. ``data`` is validated exactly as a create's body is (same errors), the
        calendars it names included (looked up in ``account_id``'s)."""
        spec = self.parse(data)
        calendars = None
        if account_id is not None and rules.calendar_names(spec):
            async with self.db.read() as conn:
                calendars = await named_calendars(conn, account_id, spec)
        return preview_schedule(spec, self.clock.now(), count, calendars)

    async def recent_runs(
        self, account_id: str, schedule_ids: list[str], per_schedule: int = RECENT_RUNS
    ) -> dict[str, list[RecentRun]]:
        """Each schedule's latest ``per_schedule`` jobs (id, status, slot), oldest first, for
        a run history strip; every id asked for has a list (empty for another account's)."""
        if len(schedule_ids) > MAX_RECENT_RUN_SCHEDULES:
            raise ValidationFailed(
                f"recent runs: at most {MAX_RECENT_RUN_SCHEDULES} schedules at once"
            )
        if not 1 <= per_schedule <= MAX_RECENT_RUNS:
            raise ValidationFailed(f"recent runs: between 1 and {MAX_RECENT_RUNS} per schedule")
        async with self.db.read() as conn:
            rows = await schedule_store.schedule_recent_runs(
                conn, account_id, schedule_ids, per_schedule
            )
        runs: dict[str, list[RecentRun]] = {schedule_id: [] for schedule_id in schedule_ids}
        for run in rows:
            runs[run["schedule_id"]].append(run)
        return runs

    async def slots(
        self,
        account_id: str,
        schedule: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        retention_seconds: float | None = None,
    ) -> Ledger:
        """The fire ledger: each slot planned in ``[start, end]`` (default: the last 24 hours,
        at most 31 days) and what became of it — on time, late, skipped, paused, disabled,
        missed and why (``domain/ledger.py``). Slots older than ``retention_seconds`` that
        have no job are ``unknown``: the pruner may have deleted it."""
        now = self.clock.now()
        end = now if end is None else _utc(end)
        start = end - DEFAULT_SPAN if start is None else _utc(start)
        if start >= end:
            raise BadRequest("from must be before to", code="invalid_range")
        if end - start > MAX_SPAN:
            raise BadRequest(
                f"the range may span at most {MAX_SPAN.days} days", code="invalid_range"
            )
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            versions = await schedule_store.schedule_version_list(conn, row["id"])
            events = await ledger_store.ledger_events(conn, row["id"], start)
            jobs = await ledger_store.ledger_jobs(
                conn, row["id"], start, min(end, now), limit=MAX_SLOTS + 1
            )
            # Excluded slots are judged by the calendars as they are now (their past
            # contents are not kept); the names come from every version in the window.
            named: dict[str, Calendar] = {}
            for version in [row, *versions]:
                named |= await named_calendars(conn, account_id, version["spec"], strict=False)
        pruned_before = None
        if retention_seconds is not None:
            pruned_before = now - timedelta(seconds=retention_seconds)
        return build_ledger(
            row,
            versions,
            events,
            jobs,
            start=start,
            end=end,
            now=now,
            pruned_before=pruned_before,
            late_after=timedelta(seconds=LATE_AFTER_SECONDS),
            calendars=named,
        )

    async def runs(
        self, account_id: str, schedule: str, *, cursor: str | None, limit: int
    ) -> tuple[list[Run], str | None]:
        """The schedule's jobs (fired, and run by hand), newest first, each with its latest
        execution (status, duration, worker) — one query for the page, not one per job."""
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, schedule)
            jobs, next_cursor = await job_store.job_list(
                conn, account_id, schedule_id=row["id"], cursor=cursor, limit=limit
            )
            last = await ledger_store.execution_last_for_jobs(conn, [j["id"] for j in jobs])
        return [Run(job, last.get(job["id"])) for job in jobs], next_cursor

    # --- helpers, inside the caller's transaction -----------------------------------------

    @staticmethod
    async def _load(
        conn: AsyncConnection, account_id: str, schedule: str, *, for_update: bool = False
    ) -> ScheduleRow:
        row = await schedule_store.schedule_get(conn, account_id, schedule, for_update=for_update)
        if row is None:
            raise NotFound(f"no schedule {schedule!r}")
        return row

    @classmethod
    async def _insert(cls, conn: AsyncConnection, row: ScheduleRow, actor: Actor | None) -> None:
        await schedule_store.schedule_insert(conn, row)
        await link_calendars(conn, row, new=True)
        await schedule_store.schedule_version_insert(
            conn, row["id"], row["version"], row["spec"], row["created_at"]
        )
        await cls._record(conn, row, ScheduleEventKind.CREATED, row["created_at"], actor)

    @staticmethod
    async def _record(
        conn: AsyncConnection,
        row: ScheduleRow,
        kind: ScheduleEventKind,
        now: datetime,
        actor: Actor | None,
        note: str | None = None,
        *,
        before: ScheduleRow | None = None,
    ) -> None:
        """The schedule event for a change (``row`` as it is after it) and, unless it is a run
        now (audited by its caller, with the job), its audit record: ``before`` → ``row``."""
        await dashboard_store.schedule_event_insert(
            conn,
            {
                "id": new_id("sev"),
                "schedule_id": row["id"],
                "at": now,
                "kind": kind.value,
                "actor": str(actor) if actor is not None else None,
                "note": note,
                "details": None,
                "version": row["version"],
            },
        )
        if kind is ScheduleEventKind.TRIGGERED:
            return
        # A pause's note is its reason; a rollback's generated note is not a reason.
        reason = note if kind is ScheduleEventKind.PAUSED else None
        old = _audited(before) if before is not None else None
        await _audit(
            conn,
            row,
            _AUDIT_VERBS[kind],
            now,
            actor,
            before=old,
            after=_audited(row),
            reason=reason,
        )

    @staticmethod
    async def _apply_spec(
        conn: AsyncConnection, row: ScheduleRow, spec: ScheduleSpec, now: datetime
    ) -> ScheduleRow:
        calendars = await named_calendars(conn, row["account_id"], spec, lock=True)
        changes = rules.spec_change(row, spec, now, calendars)
        await schedule_store.schedule_update(conn, row["id"], changes)
        await schedule_store.schedule_version_insert(conn, row["id"], changes["version"], spec, now)
        changed = rules.with_changes(row, changes)
        await link_calendars(conn, changed)
        return changed

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
        paused = None
        if row["state"] == ScheduleState.PAUSED:
            latest = await dashboard_store.schedule_event_list(
                conn, row["id"], kinds=[ScheduleEventKind.PAUSED.value], limit=1
            )
            paused = latest[0] if latest else None
        return ScheduleView(row, rates.get(row["id"]), paused)


@dataclass(frozen=True)
class Run:
    """One of a schedule's jobs with its latest execution (None before its first claim)."""

    job: JobRow
    execution: ExecutionRow | None


def _audited(row: ScheduleRow) -> dict[str, Any]:
    """What the audit log compares of a schedule: its configuration, state and version."""
    return {**row["spec"], "state": row["state"], "version": row["version"]}


async def _audit(
    conn: AsyncConnection,
    row: ScheduleRow,
    verb: str,
    now: datetime,
    actor: Actor | None,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
) -> None:
    """Record ``schedule.<verb>`` in the audit log, in the caller's transaction."""
    await audit_change(
        conn, "schedule", row, verb, now, actor, before=before, after=after, reason=reason
    )


def _utc(value: datetime) -> datetime:
    """An instant in UTC; a naive one is taken as UTC, as the API takes ``start_at``."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
