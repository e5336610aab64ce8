"""Heartbeat monitors: a dead-man's switch for work that runs outside Chronos.

A monitor expects a ping by a time its expectation names: a cron expression (evaluated in the
monitor's timezone) or an interval after the last ping. A ping may be up to ``grace`` seconds
late; after that the monitor is ``late``. A ``/fail`` ping makes it ``failed`` until the next
good ping; a ``/start`` not followed by a ping within ``max_runtime`` makes it ``late`` too.

Nothing has to run for a monitor to go late: lateness is derived from the stored row and the
time alone (:func:`monitor_state`, :func:`monitor_problem`), so every reader of a row — the API,
the dashboard, the alert evaluator — sees the same answer at the same instant.

Pure: no clock reads, no database.

    >>> row = new_monitor("acc_1", spec, now, token="…")          # state "new"
    >>> row = with_changes(row, ping_changes(row, PingKind.OK, now))  # state "up"
    >>> monitor_problem(row, now + timedelta(days=2))
    MonitorProblem(kind='late', since=…, summary='nightly-backup: no ping since …')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict, cast

from chronos.server.domain.describe import describe_cron
from chronos.server.domain.timing import CronTrigger, iso
from chronos.server.ids import new_id

# A ping's body is kept up to this many bytes (a longer one is refused with 413).
MAX_PING_BODY_BYTES = 10 * 1024
# How many pings of each monitor are kept (the oldest go as new ones come).
PING_HISTORY = 100
DEFAULT_GRACE_SECONDS = 300.0
MIN_INTERVAL_SECONDS = 1.0


class MonitorState(StrEnum):
    """A monitor's state as readers see it. ``late`` is never stored: it is derived from
    ``next_expected_at + grace`` (or ``last_start_at + max_runtime``) and the time."""

    NEW = "new"  # never pinged
    UP = "up"  # the last ping was good and the next one is not overdue
    LATE = "late"  # the expected ping did not come in time (or a started run never finished)
    FAILED = "failed"  # the last ping was /fail
    PAUSED = "paused"  # disabled: never late, never failed


# What the ``state`` column may hold.
STORED_STATES = (MonitorState.NEW, MonitorState.UP, MonitorState.FAILED, MonitorState.PAUSED)


class PingKind(StrEnum):
    OK = "ok"
    START = "start"
    FAIL = "fail"


class MonitorSpec(TypedDict):
    """A monitor's configuration, normalised (what a PUT replaces and a PATCH merges into)."""

    name: str
    description: str | None
    tags: dict[str, str]
    cron: str | None  # canonical 5- or 6-field expression, evaluated in ``timezone``
    interval_seconds: float | None  # or: a ping expected this long after the last one
    timezone: str
    grace_seconds: float
    max_runtime_seconds: float | None
    enabled: bool


class MonitorRow(TypedDict):
    id: str
    account_id: str
    name: str
    description: str | None
    tags: dict[str, str]
    cron: str | None
    interval_seconds: float | None
    timezone: str
    grace_seconds: float
    max_runtime_seconds: float | None
    # The stored state: new, up, failed or paused — never "late", which depends on the time:
    # read the state a person should see with :func:`monitor_state`.
    state: str
    # The secret in the monitor's tokenised ping URL, and its SHA-256 (how a ping finds it).
    ping_token: str
    ping_token_hash: str
    last_ping_at: datetime | None  # the last ok or fail ping
    last_ping_kind: str | None  # PingKind of that ping
    last_start_at: datetime | None  # the last /start
    # When the next ping is expected (None while paused); late after this + grace.
    next_expected_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MonitorChanges(TypedDict, total=False):
    name: str
    description: str | None
    tags: dict[str, str]
    cron: str | None
    interval_seconds: float | None
    timezone: str
    grace_seconds: float
    max_runtime_seconds: float | None
    state: str
    ping_token: str
    ping_token_hash: str
    last_ping_at: datetime | None
    last_ping_kind: str | None
    last_start_at: datetime | None
    next_expected_at: datetime | None
    updated_at: datetime


class PingRow(TypedDict):
    id: str
    monitor_id: str
    at: datetime
    kind: str  # PingKind
    exit_code: int | None
    body: str | None  # the request body, decoded as UTF-8 (bad bytes replaced), NUL-free
    source_ip: str | None


@dataclass(frozen=True)
class MonitorProblem:
    """What is wrong with a monitor right now: ``kind`` is ``"late"`` or ``"failed"``;
    ``since`` is when it became so (the missed deadline, or the failing ping)."""

    kind: str
    since: datetime
    summary: str


_TIMING_FIELDS = ("cron", "interval_seconds", "timezone")


def token_hash(token: str) -> str:
    """How a ping token is looked up: tokens are 190 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def expected_after(monitor: MonitorSpec | MonitorRow, instant: datetime) -> datetime | None:
    """When the ping after one at ``instant`` is expected: the next cron slot strictly after
    it (in the monitor's timezone), or ``instant + interval``."""
    try:
        if monitor["cron"] is not None:
            return CronTrigger(monitor["cron"], monitor["timezone"]).next_fire(instant)
        if monitor["interval_seconds"] is not None:
            return instant + timedelta(seconds=monitor["interval_seconds"])
    except (OverflowError, ValueError):  # past the last representable date
        return None
    return None


def new_monitor(account_id: str, spec: MonitorSpec, now: datetime, *, token: str) -> MonitorRow:
    """A monitor that has never been pinged. The first ping is expected as if one had come
    now, so a job that never runs at all is noticed too."""
    enabled = spec["enabled"]
    return {
        "id": new_id("mon"),
        "account_id": account_id,
        "name": spec["name"],
        "description": spec["description"],
        "tags": dict(spec["tags"]),
        "cron": spec["cron"],
        "interval_seconds": spec["interval_seconds"],
        "timezone": spec["timezone"],
        "grace_seconds": spec["grace_seconds"],
        "max_runtime_seconds": spec["max_runtime_seconds"],
        "state": MonitorState.NEW.value if enabled else MonitorState.PAUSED.value,
        "ping_token": token,
        "ping_token_hash": token_hash(token),
        "last_ping_at": None,
        "last_ping_kind": None,
        "last_start_at": None,
        "next_expected_at": expected_after(spec, now) if enabled else None,
        "created_at": now,
        "updated_at": now,
    }


def monitor_spec(row: MonitorRow) -> MonitorSpec:
    """A stored monitor's configuration (the base a PATCH merges into, and the audit diff)."""
    return {
        "name": row["name"],
        "description": row["description"],
        "tags": dict(row["tags"]),
        "cron": row["cron"],
        "interval_seconds": row["interval_seconds"],
        "timezone": row["timezone"],
        "grace_seconds": row["grace_seconds"],
        "max_runtime_seconds": row["max_runtime_seconds"],
        "enabled": row["state"] != MonitorState.PAUSED,
    }


def with_changes(row: MonitorRow, changes: MonitorChanges) -> MonitorRow:
    return cast(MonitorRow, {**row, **changes})


def spec_change(row: MonitorRow, spec: MonitorSpec, now: datetime) -> MonitorChanges:
    """The columns that change when ``row`` takes configuration ``spec`` (empty: none).

    A new expectation counts from the last ping (a monitor that has not been pinged since is
    late as soon as the new rule says so), or from now for one never pinged. Pausing clears
    the expectation; resuming starts it again from now and forgets a failure."""
    old = monitor_spec(row)
    if old == spec:
        return {}
    changes: MonitorChanges = {
        "name": spec["name"],
        "description": spec["description"],
        "tags": dict(spec["tags"]),
        "cron": spec["cron"],
        "interval_seconds": spec["interval_seconds"],
        "timezone": spec["timezone"],
        "grace_seconds": spec["grace_seconds"],
        "max_runtime_seconds": spec["max_runtime_seconds"],
        "updated_at": now,
    }
    if old["enabled"] and not spec["enabled"]:
        changes["state"] = MonitorState.PAUSED.value
        changes["next_expected_at"] = None
    elif spec["enabled"] and not old["enabled"]:
        changes["state"] = (MonitorState.UP if row["last_ping_at"] else MonitorState.NEW).value
        changes["next_expected_at"] = expected_after(spec, now)
    elif spec["enabled"] and any(old[f] != spec[f] for f in _TIMING_FIELDS):  # type: ignore[literal-required]
        changes["next_expected_at"] = expected_after(spec, row["last_ping_at"] or now)
    return changes


def ping_changes(row: MonitorRow, kind: PingKind, now: datetime) -> MonitorChanges:
    """What a ping does. ``ok`` and ``fail`` end a run: the next ping is expected from now;
    ``fail`` makes the monitor ``failed`` until the next ``ok``. ``start`` only notes the run's
    start (for ``max_runtime``). A paused monitor records pings but stays paused."""
    if kind is PingKind.START:
        return {"last_start_at": now}
    paused = row["state"] == MonitorState.PAUSED
    changes: MonitorChanges = {
        "last_ping_at": now,
        "last_ping_kind": kind.value,
        "next_expected_at": None if paused else expected_after(row, now),
    }
    if not paused:
        changes["state"] = (MonitorState.FAILED if kind is PingKind.FAIL else MonitorState.UP).value
    return changes


def running_since(row: MonitorRow) -> datetime | None:
    """When the run in progress started: a ``/start`` with no ok/fail ping after it."""
    start = row["last_start_at"]
    if start is None or (row["last_ping_at"] is not None and row["last_ping_at"] >= start):
        return None
    return start


def late_after(row: MonitorRow) -> datetime | None:
    """When the monitor becomes late if no ping comes: the earlier of the expected ping's
    deadline (``next_expected_at + grace``) and a started run's (``last_start_at +
    max_runtime``); None while paused or when nothing is expected."""
    if row["state"] == MonitorState.PAUSED:
        return None
    deadlines = []
    if row["next_expected_at"] is not None:
        deadlines.append(row["next_expected_at"] + timedelta(seconds=row["grace_seconds"]))
    started = running_since(row)
    if started is not None and row["max_runtime_seconds"] is not None:
        deadlines.append(started + timedelta(seconds=row["max_runtime_seconds"]))
    return min(deadlines) if deadlines else None


def monitor_problem(row: MonitorRow, now: datetime) -> MonitorProblem | None:
    """What is wrong with the monitor at ``now``, or None if nothing is (or it is paused).

    ``failed`` (the last ping was ``/fail``) wins over lateness, and lasts until a good ping.
    ``late``: ``now`` is past ``next_expected_at + grace``, or a ``/start`` had no ping within
    ``max_runtime``; ``since`` is the missed deadline. The result depends only on the row and
    ``now``, so evaluating twice gives the same ``since`` (alerts can de-duplicate on it)."""
    state = row["state"]
    if state == MonitorState.PAUSED:
        return None
    name = row["name"]
    if state == MonitorState.FAILED and row["last_ping_at"] is not None:
        return MonitorProblem(
            kind="failed",
            since=row["last_ping_at"],
            summary=f"{name}: reported a failure at {iso(row['last_ping_at'])}",
        )
    deadline = late_after(row)
    if deadline is None or now <= deadline:
        return None
    started = running_since(row)
    runtime = row["max_runtime_seconds"]
    if (
        started is not None
        and runtime is not None
        and deadline == started + timedelta(seconds=runtime)
    ):
        summary = (
            f"{name}: started at {iso(started)} and did not finish within {_seconds_text(runtime)}"
        )
    elif row["last_ping_at"] is None:
        summary = f"{name}: never pinged; a ping was expected by {iso(row['next_expected_at'])}"
    else:
        summary = (
            f"{name}: no ping since {iso(row['last_ping_at'])}; the next was expected by "
            f"{iso(row['next_expected_at'])}"
        )
    return MonitorProblem(kind="late", since=deadline, summary=summary)


def monitor_state(row: MonitorRow, now: datetime) -> MonitorState:
    """The state to show at ``now``: the stored one, or ``late`` when a deadline has passed."""
    problem = monitor_problem(row, now)
    if problem is not None and problem.kind == "late":
        return MonitorState.LATE
    return MonitorState(row["state"])


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def describe_expectation(monitor: MonitorSpec | MonitorRow) -> str:
    """When pings are expected, in words: ``at 02:00 every day (Europe/Paris), up to 5m
    late``, ``every 1h after the last ping, up to 5m late``."""
    if monitor["cron"] is not None:
        words = f"{describe_cron(monitor['cron'])} ({monitor['timezone']})"
    elif monitor["interval_seconds"] is not None:
        words = f"every {_seconds_text(monitor['interval_seconds'])} after the last ping"
    else:  # pragma: no cover - a normalised monitor has one or the other
        words = "never"
    grace = monitor["grace_seconds"]
    words += f", up to {_seconds_text(grace)} late" if grace else ", on time"
    runtime = monitor["max_runtime_seconds"]
    if runtime is not None:
        words += f"; a started run may take {_seconds_text(runtime)}"
    return words


def ping_body_text(body: bytes) -> str | None:
    """A ping's body as stored: UTF-8 (undecodable bytes replaced), NUL characters replaced
    (no database text column can hold them), None when empty."""
    if not body:
        return None
    return body.decode("utf-8", "replace").replace("\x00", "\ufffd")


def audit_view(spec: MonitorSpec | dict[str, Any]) -> dict[str, Any]:
    """A monitor's configuration as the audit log records it (never its ping token)."""
    return {k: v for k, v in dict(spec).items() if k not in ("ping_token", "ping_token_hash")}
