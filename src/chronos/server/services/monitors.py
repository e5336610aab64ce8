"""Heartbeat monitors: create, change, pause, delete, rotate the ping token, and take pings.

The rules (what a ping does, when a monitor is late) are the pure functions of
``domain/monitors.py``; this module owns the transactions. Every change is recorded in the
audit log in its own transaction (never the ping token); pings are not changes and are not
audited. A ping is one short transaction: lock the monitor, update it, add the ping, drop the
pings beyond the history's length. Each committed change or ping tells the dashboard's live
pages (topic ``monitors``).

    monitors = MonitorService(db, clock)
    view = await monitors.create(account_id, monitors.parse({"name": "backup",
                                                            "cron": "0 2 * * *"}), actor=actor)
    await monitors.ping_by_token(view.row["ping_token"], PingKind.OK, body=b"", ...)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictStr, ValidationError, model_validator

from chronos.server import metrics
from chronos.server.clock import Clock
from chronos.server.domain import monitors as rules
from chronos.server.domain.audit import Actor, audit_row
from chronos.server.domain.monitors import (
    MAX_PING_BODY_BYTES,
    MIN_INTERVAL_SECONDS,
    MonitorRow,
    MonitorSpec,
    PingKind,
    PingRow,
)
from chronos.server.domain.timing import CronTrigger, TimingError, load_timezone
from chronos.server.errors import (
    InvalidSchedule,
    NameConflict,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from chronos.server.ids import new_id
from chronos.server.normalize import check_name
from chronos.server.notifier import Notifier
from chronos.server.schemas import Duration, Name, Strict, Tags, validation_details
from chronos.server.store import monitors as monitor_store
from chronos.server.store.audit import audit_change, audit_insert
from chronos.server.store.db import Database
from chronos.server.store.errors import UniqueViolation

RECENT_PINGS = 50
MAX_RECENT_PINGS = 100
# Fields a GET returns that a PUT body may carry back unchanged (they are ignored).
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "account_id",
        "state",
        "problem",
        "expectation",
        "ping_token",
        "ping_url",
        "ping_urls",
        "last_ping_at",
        "last_ping_kind",
        "last_start_at",
        "next_expected_at",
        "late_after",
        "pings",
        "created_at",
        "updated_at",
    }
)
# An exit code as shells and CI report it (and a little room either way).
EXIT_CODE_RANGE = (-(2**31), 2**31 - 1)


class MonitorIn(Strict):
    """A monitor's configuration: exactly one of ``cron`` (evaluated in ``timezone``) or
    ``interval`` (a duration after the last ping); ``grace`` how late a ping may be;
    ``max_runtime`` how long a run reported by ``/start`` may take."""

    name: Name
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    tags: Tags = Field(default_factory=dict)
    cron: Annotated[StrictStr, Field(max_length=200)] | None = None
    interval: Duration | None = None
    timezone: Annotated[StrictStr, Field(max_length=64)] = "UTC"
    grace: Duration = rules.DEFAULT_GRACE_SECONDS
    max_runtime: Duration | None = None
    enabled: StrictBool = True

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data


def normalize_monitor(body: MonitorIn) -> MonitorSpec:
    """The canonical configuration of a monitor; a typed 422 if it cannot work."""
    name = body.name
    check_name(name, "monitor", "mon")
    if (body.cron is None) == (body.interval is None):
        raise InvalidSchedule("give exactly one of cron or interval")
    cron = body.cron
    try:
        load_timezone(body.timezone)
        if cron is not None:
            cron = CronTrigger.parse(cron, body.timezone).expression
    except TimingError as exc:
        raise InvalidSchedule(str(exc)) from exc
    if body.interval is not None and body.interval < MIN_INTERVAL_SECONDS:
        raise InvalidSchedule("interval must be at least 1 second")
    if body.max_runtime is not None and body.max_runtime <= 0:
        raise ValidationFailed("max_runtime must be more than 0", details={"field": "max_runtime"})
    for key, value in body.tags.items():
        if not key or len(key) > 64 or len(value) > 200:
            raise ValidationFailed(
                "tags: keys of 1-64 characters, values of at most 200", details={"field": "tags"}
            )
    return {
        "name": name,
        "description": body.description,
        "tags": dict(body.tags),
        "cron": cron,
        "interval_seconds": body.interval,
        "timezone": body.timezone,
        "grace_seconds": body.grace,
        "max_runtime_seconds": body.max_runtime,
        "enabled": body.enabled,
    }


def _spec_as_input(spec: MonitorSpec) -> dict[str, Any]:
    """A stored configuration as a request body (the base a PATCH merges into)."""
    return {
        "name": spec["name"],
        "description": spec["description"],
        "tags": spec["tags"],
        "cron": spec["cron"],
        "interval": spec["interval_seconds"],
        "timezone": spec["timezone"],
        "grace": spec["grace_seconds"],
        "max_runtime": spec["max_runtime_seconds"],
        "enabled": spec["enabled"],
    }


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class MonitorDetail:
    row: MonitorRow
    pings: list[PingRow]


class MonitorService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier | None = None) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier

    def _changed(self, account_id: str) -> None:
        """After a commit: the dashboard's monitor pages refresh (SSE topic ``monitors``)."""
        if self.notifier is not None:
            self.notifier.changed(account_id, "monitors")

    # --- configuration ---------------------------------------------------------------------

    def parse(self, data: Any) -> MonitorSpec:
        try:
            body = MonitorIn.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed("invalid monitor", details=validation_details(exc)) from exc
        return normalize_monitor(body)

    async def create(
        self, account_id: str, spec: MonitorSpec, *, actor: Actor | None = None
    ) -> MonitorRow:
        """A new monitor (state ``new``) with a fresh ping token; a taken name is a 409."""
        now = self.clock.now()
        row = rules.new_monitor(account_id, spec, now, token=new_token())
        async with self.db.transaction() as conn:
            await self._insert(conn, row, actor)
        self._changed(account_id)
        return row

    async def upsert(
        self, account_id: str, name: str, data: Any, *, actor: Actor | None = None
    ) -> tuple[MonitorRow, bool]:
        """Create or replace by name (PUT); True when created."""
        if not isinstance(data, dict):
            raise ValidationFailed("the body must be a JSON object")
        if data.get("name", name) != name:
            raise ValidationFailed("the body's name differs from the name in the path")
        spec = self.parse({**data, "name": name})
        result = await self._upsert(account_id, name, spec, actor)
        self._changed(account_id)
        return result

    async def _upsert(
        self, account_id: str, name: str, spec: MonitorSpec, actor: Actor | None = None
    ) -> tuple[MonitorRow, bool]:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await monitor_store.monitor_get(conn, account_id, name, for_update=True)
            if row is not None and row["name"] != name:
                row = None  # the path named an id; PUT works by name only
            if row is None:
                created = rules.new_monitor(account_id, spec, now, token=new_token())
                try:
                    await self._insert(conn, created, actor)
                    return created, True
                except NameConflict:  # a racing PUT made it first: update theirs
                    row = await self._load(conn, account_id, name, for_update=True)
            return await self._apply(conn, row, spec, actor), False

    async def patch(
        self, account_id: str, monitor: str, patch: Any, *, actor: Actor | None = None
    ) -> MonitorRow:
        """Change some fields; the result is validated whole. Giving ``cron`` or ``interval``
        replaces the other."""
        if not isinstance(patch, dict):
            raise ValidationFailed("the body must be a JSON object")
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, monitor, for_update=True)
            base = _spec_as_input(rules.monitor_spec(row))
            if "cron" in patch or "interval" in patch:
                base.pop("cron")
                base.pop("interval")
            spec = self.parse({k: v for k, v in {**base, **patch}.items() if v is not None})
            row = await self._apply(conn, row, spec, actor)
        self._changed(account_id)
        return row

    async def set_enabled(
        self, account_id: str, monitor: str, enabled: bool, *, actor: Actor | None = None
    ) -> MonitorRow:
        """Pause (never late, never failed) or resume (expected again from now)."""
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, monitor, for_update=True)
            spec = {**rules.monitor_spec(row), "enabled": enabled}
            row = await self._apply(conn, row, spec, actor)  # type: ignore[arg-type]
        self._changed(account_id)
        return row

    async def rotate_token(
        self, account_id: str, monitor: str, *, actor: Actor | None = None
    ) -> MonitorRow:
        """A new ping token; the old URL stops working at once."""
        token = new_token()
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, monitor, for_update=True)
            changes: rules.MonitorChanges = {
                "ping_token": token,
                "ping_token_hash": rules.token_hash(token),
                "updated_at": now,
            }
            await monitor_store.monitor_update(conn, row["id"], changes)
            await audit_change(
                conn,
                "monitor",
                row,
                "token_rotated",
                now,
                actor,
                before={"ping_token": row["ping_token"]},
                after={"ping_token": token},
            )
        self._changed(account_id)
        return rules.with_changes(row, changes)

    async def delete(self, account_id: str, monitor: str, *, actor: Actor | None = None) -> None:
        """Delete a monitor and its pings."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, monitor, for_update=True)
            await monitor_store.monitor_delete(conn, account_id, row["id"])
            before = rules.audit_view(rules.monitor_spec(row))
            await audit_change(
                conn, "monitor", row, "deleted", now, actor, before=before, after=None
            )
        self._changed(account_id)

    # --- reading ---------------------------------------------------------------------------

    async def find(
        self, account_id: str, *, tags: dict[str, str], cursor: str | None, limit: int
    ) -> tuple[list[MonitorRow], str | None]:
        async with self.db.read() as conn:
            return await monitor_store.monitor_list(
                conn, account_id, tags=tags, cursor=cursor, limit=limit
            )

    async def list_all(self, account_id: str) -> list[MonitorRow]:
        async with self.db.read() as conn:
            return await monitor_store.monitor_list_all(conn, account_id)

    async def get(self, account_id: str, monitor: str) -> MonitorRow:
        async with self.db.read() as conn:
            return await self._load(conn, account_id, monitor)

    async def detail(
        self, account_id: str, monitor: str, *, pings: int = RECENT_PINGS
    ) -> MonitorDetail:
        """A monitor with its latest ``pings`` pings, newest first."""
        async with self.db.read() as conn:
            row = await self._load(conn, account_id, monitor)
            history = await monitor_store.monitor_ping_list(
                conn, row["id"], min(pings, MAX_RECENT_PINGS)
            )
        return MonitorDetail(row, history)

    # --- pings -----------------------------------------------------------------------------

    async def ping(
        self,
        account_id: str,
        monitor: str,
        kind: PingKind,
        *,
        body: bytes = b"",
        exit_code: int | None = None,
        source_ip: str | None = None,
    ) -> MonitorRow:
        """A ping sent with an API key, to a monitor named by id or name (404 if none)."""
        _check_ping(body, exit_code)
        async with self.db.transaction() as conn:
            row = await self._load(conn, account_id, monitor, for_update=True)
            row = await self._record_ping(conn, row, kind, body, exit_code, source_ip)
        metrics.MONITOR_PINGS.labels(kind.value).inc()
        self._changed(account_id)
        return row

    async def ping_by_token(
        self,
        token: str,
        kind: PingKind,
        *,
        body: bytes = b"",
        exit_code: int | None = None,
        source_ip: str | None = None,
    ) -> MonitorRow | None:
        """A ping to a tokenised URL; None when no monitor has this token (the caller answers
        404 without saying more). The token is looked up by its hash, so the lookup's timing
        says nothing about how much of a guess was right."""
        _check_ping(body, exit_code)
        if not token or len(token) > 200:
            return None
        async with self.db.transaction() as conn:
            row = await monitor_store.monitor_get_by_token_hash(
                conn, rules.token_hash(token), for_update=True
            )
            if row is None or not secrets.compare_digest(
                row["ping_token"].encode(), token.encode("utf-8", "surrogatepass")
            ):
                return None
            row = await self._record_ping(conn, row, kind, body, exit_code, source_ip)
        metrics.MONITOR_PINGS.labels(kind.value).inc()
        self._changed(row["account_id"])
        return row

    async def _record_ping(
        self,
        conn: Any,
        row: MonitorRow,
        kind: PingKind,
        body: bytes,
        exit_code: int | None,
        source_ip: str | None,
    ) -> MonitorRow:
        now = self.clock.now()
        changes = rules.ping_changes(row, kind, now)
        await monitor_store.monitor_update(conn, row["id"], changes)
        await monitor_store.monitor_ping_insert(
            conn,
            {
                "id": new_id("png"),
                "monitor_id": row["id"],
                "at": now,
                "kind": kind.value,
                "exit_code": exit_code,
                "body": rules.ping_body_text(body),
                "source_ip": (source_ip or None) and source_ip[:64],
            },
        )
        return rules.with_changes(row, changes)

    # --- helpers ---------------------------------------------------------------------------

    async def _load(
        self, conn: Any, account_id: str, monitor: str, *, for_update: bool = False
    ) -> MonitorRow:
        row = await monitor_store.monitor_get(conn, account_id, monitor, for_update=for_update)
        if row is None:
            raise NotFound(f"monitor {monitor!r} not found")
        return row

    async def _insert(self, conn: Any, row: MonitorRow, actor: Actor | None) -> None:
        try:
            await monitor_store.monitor_insert(conn, row)
        except UniqueViolation as exc:
            raise _name_taken(row["name"]) from exc
        after = rules.audit_view(rules.monitor_spec(row))
        await audit_change(
            conn, "monitor", row, "created", row["created_at"], actor, before=None, after=after
        )

    async def _apply(
        self, conn: Any, row: MonitorRow, spec: MonitorSpec, actor: Actor | None
    ) -> MonitorRow:
        """Give ``row`` configuration ``spec`` (no-op if unchanged) and audit it."""
        now = self.clock.now()
        changes = rules.spec_change(row, spec, now)
        if not changes:
            return row
        try:
            await monitor_store.monitor_update(conn, row["id"], changes)
        except UniqueViolation as exc:
            raise _name_taken(spec["name"]) from exc
        before, after = rules.monitor_spec(row), spec
        action = "monitor.updated"
        if before["enabled"] != after["enabled"]:
            action = "monitor.resumed" if after["enabled"] else "monitor.paused"
        await audit_insert(
            conn,
            audit_row(
                row["account_id"],
                actor,
                action,
                "monitor",
                row["id"],
                spec["name"],
                before=rules.audit_view(before),
                after=rules.audit_view(after),
                at=now,
            ),
        )
        return rules.with_changes(row, changes)


def _name_taken(name: str) -> NameConflict:
    return NameConflict(f"a monitor named {name!r} already exists", details={"name": name})


def _check_ping(body: bytes, exit_code: int | None) -> None:
    if len(body) > MAX_PING_BODY_BYTES:
        raise PayloadTooLarge(
            f"a ping's body must be at most {MAX_PING_BODY_BYTES} bytes (got {len(body)})"
        )
    if exit_code is not None and not EXIT_CODE_RANGE[0] <= exit_code <= EXIT_CODE_RANGE[1]:
        raise ValidationFailed("exit_code must be a 32-bit integer", details={"field": "exit_code"})
