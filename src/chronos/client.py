"""HTTP clients for the Chronos API: :class:`Chronos` (sync) and :class:`AsyncChronos`.

    from chronos import Chronos
    chronos = Chronos(api_key="chrns_…", base_url="http://localhost:8080")
    chronos.schedules.create(name="nightly", handler="report", cron="0 2 * * *")
    job = chronos.jobs.create(handler="process-upload", payload={"fileId": "f_1"})

Both read ``CHRONOS_URL`` and ``CHRONOS_API_KEY`` when not given. The resource objects are
shared: in ``AsyncChronos`` every method returns an awaitable of the same result. Error answers
raise the :mod:`chronos.errors` type that fits, carrying the API's ``code``.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from chronos import _tracing
from chronos import webhooks as _webhooks
from chronos.errors import ChronosError, ConnectionFailed, error_from_response
from chronos.models import (
    Alert,
    AlertRule,
    AuditRecord,
    Backfill,
    Calendar,
    Execution,
    Job,
    Monitor,
    Page,
    Schedule,
    SchedulePreview,
    ScheduleVersion,
    SlotLedger,
    parse_time,
)

DEFAULT_URL = "http://localhost:8080"
M = TypeVar("M")
Call = Callable[..., Any]


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _page(parse: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Page[Any]]:
    return lambda body: Page([parse(item) for item in body["data"]], body.get("next_cursor"))


def _reason(reason: str | None) -> dict[str, str] | None:
    """The ``X-Chronos-Reason`` header: why, for the audit log."""
    return None if reason is None else {"X-Chronos-Reason": reason}


def _time(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def _filters(tags: dict[str, str] | None, **params: Any) -> dict[str, Any]:
    query = {k: v for k, v in params.items() if v is not None}
    for key, value in (tags or {}).items():
        query[f"tag.{key}"] = value
    return query


class Schedules:
    def __init__(self, call: Call) -> None:
        self._call = call

    def create(self, **fields: Any) -> Schedule:
        """``create(name=…, handler=…, cron=…|interval=…|schedule=…, …)``; see the API docs."""
        return self._call("POST", "/v1/schedules", json=_body(fields), parse=Schedule.from_dict)

    def preview(self, *, count: int = 10, **fields: Any) -> SchedulePreview:
        """The next ``count`` (1-100) fires of a schedule body, as ``create`` takes it, with
        its timing in words and DST warnings; nothing is stored. A body ``create`` would
        refuse raises the same error."""
        return self._call(
            "POST",
            "/v1/schedules/preview",
            json=_body(fields),
            params={"count": count},
            parse=SchedulePreview.from_dict,
        )

    def upsert(self, name: str, **fields: Any) -> Schedule:
        """Create or update by name (``PUT``): safe to run from every instance at start-up."""
        return self._call(
            "PUT", _path("v1", "schedules", name), json=_body(fields), parse=Schedule.from_dict
        )

    def get(self, id_or_name: str) -> Schedule:
        return self._call("GET", _path("v1", "schedules", id_or_name), parse=Schedule.from_dict)

    def list(
        self,
        *,
        state: str | None = None,
        handler: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Schedule]:
        params = _filters(tags, state=state, handler=handler, limit=limit, cursor=cursor)
        return self._call("GET", "/v1/schedules", params=params, parse=_page(Schedule.from_dict))

    def update(self, id_or_name: str, *, reason: str | None = None, **fields: Any) -> Schedule:
        """Change some fields (``PATCH``); makes a new version. ``reason`` (why) goes to the
        audit log."""
        return self._call(
            "PATCH",
            _path("v1", "schedules", id_or_name),
            json=fields,
            headers=_reason(reason),
            parse=Schedule.from_dict,
        )

    def delete(self, id_or_name: str, *, reason: str | None = None) -> None:
        """Delete; ``reason`` (why) goes to the audit log."""
        return self._call(
            "DELETE",
            _path("v1", "schedules", id_or_name),
            headers=_reason(reason),
            parse=lambda _: None,
        )

    def _action(
        self, id_or_name: str, action: str, parse: Callable[[Any], Any], json: Any = None
    ) -> Any:
        return self._call(
            "POST", _path("v1", "schedules", id_or_name, action), json=json, parse=parse
        )

    def pause(
        self, id_or_name: str, *, note: str | None = None, reason: str | None = None
    ) -> Schedule:
        """Pause; ``note`` is shown with the paused schedule and is the audit log's reason."""
        body = _body({"note": note, "reason": reason}) or None
        return self._action(id_or_name, "pause", Schedule.from_dict, body)

    def resume(self, id_or_name: str, *, reason: str | None = None) -> Schedule:
        return self._action(
            id_or_name, "resume", Schedule.from_dict, _body({"reason": reason}) or None
        )

    def enable(self, id_or_name: str, *, reason: str | None = None) -> Schedule:
        return self._action(
            id_or_name, "enable", Schedule.from_dict, _body({"reason": reason}) or None
        )

    def disable(self, id_or_name: str, *, reason: str | None = None) -> Schedule:
        return self._action(
            id_or_name, "disable", Schedule.from_dict, _body({"reason": reason}) or None
        )

    def backfill(
        self,
        id_or_name: str,
        start: datetime | str,
        end: datetime | str,
        *,
        overlap: str = "skip",
        reason: str | None = None,
    ) -> Backfill:
        """Create the jobs of the schedule's past slots in ``[start, end]`` that have none,
        exactly once (``overlap="rerun"``: finished ones run again). At most 10,000 slots."""
        body = _body({"from": _time(start), "to": _time(end), "overlap": overlap, "reason": reason})
        return self._action(id_or_name, "backfill", Backfill.from_dict, body)

    def backfills(
        self, id_or_name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Backfill]:
        """The schedule's backfills, newest first."""
        return self._call(
            "GET",
            _path("v1", "schedules", id_or_name, "backfills"),
            params=_filters(None, limit=limit, cursor=cursor),
            parse=_page(Backfill.from_dict),
        )

    def trigger(self, id_or_name: str, *, reason: str | None = None) -> Job:
        """Run now, as a job with ``trigger="manual"``; ``reason`` goes to the audit log."""
        return self._call(
            "POST",
            _path("v1", "schedules", id_or_name, "trigger"),
            headers=_reason(reason),
            parse=Job.from_dict,
        )

    def slots(
        self,
        id_or_name: str,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
    ) -> SlotLedger:
        """The fire ledger: each slot planned in ``[from_, to]`` (default the last 24 hours,
        at most 31 days) and what became of it, oldest first (docs: "Fire ledger")."""
        params = _filters(
            None,
            **{
                "from": None if from_ is None else _time(from_),
                "to": None if to is None else _time(to),
            },
        )
        return self._call(
            "GET",
            _path("v1", "schedules", id_or_name, "slots"),
            params=params,
            parse=SlotLedger.from_dict,
        )

    def upcoming(self, id_or_name: str, count: int = 10) -> builtins.list[datetime]:
        return self._call(
            "GET",
            _path("v1", "schedules", id_or_name, "upcoming"),
            params={"count": count},
            parse=lambda body: [parse_time(t) for t in body["data"]],
        )

    def versions(self, id_or_name: str) -> builtins.list[ScheduleVersion]:
        """Every configuration the schedule has had, newest first."""
        return self._call(
            "GET",
            _path("v1", "schedules", id_or_name, "versions"),
            parse=lambda body: [ScheduleVersion.from_dict(v) for v in body["data"]],
        )

    def version(self, id_or_name: str, version: int) -> ScheduleVersion:
        """One earlier (or the current) configuration."""
        return self._call(
            "GET",
            _path("v1", "schedules", id_or_name, "versions", str(version)),
            parse=ScheduleVersion.from_dict,
        )

    def rollback(self, id_or_name: str, version: int, *, reason: str | None = None) -> Schedule:
        """Restore ``version``'s configuration as a new version (nothing changes if it is
        the current one). ``reason`` (why) goes to the audit log."""
        return self._call(
            "POST",
            _path("v1", "schedules", id_or_name, "rollback", str(version)),
            headers=_reason(reason),
            parse=Schedule.from_dict,
        )

    def apply(self, schedules: Any, *, prune: bool = False, dry_run: bool = False) -> Any:
        """Make the server match ``schedules`` (bodies as ``create`` takes them): create the
        new names, update those that differ, and with ``prune`` delete the schedules an
        earlier apply wrote that are no longer declared. Every change is validated by the
        server before any is written. Returns an :class:`~chronos.ascode.ApplyResult`
        (``created``, ``updated``, ``deleted``, ``unchanged``, per-field ``items``);
        ``dry_run`` only plans. Raises :class:`~chronos.ascode.ApplyError` naming each bad
        schedule. See docs/schedules-as-code.md."""
        from chronos.ascode.runner import apply_steps, drive

        return drive(apply_steps(schedules, prune=prune, dry_run=dry_run), self._call)

    def export(self, *, tags: dict[str, str] | None = None) -> Any:
        """The schedules (with these ``tags``) as ``apply`` takes them, sorted by name:
        configuration only, defaults left out."""
        from chronos.ascode.runner import drive, export_steps

        return drive(export_steps(tags), self._call)


class Jobs:
    def __init__(self, call: Call) -> None:
        self._call = call

    def create(self, **fields: Any) -> Job:
        """``create(handler=…, payload=…, delay=…|scheduled_for=…, idempotency_key=…, …)``."""
        return self._call("POST", "/v1/jobs", json=_body(fields), parse=Job.from_dict)

    def create_many(self, jobs: list[dict[str, Any]]) -> list[Job]:
        return self._call(
            "POST",
            "/v1/jobs/batch",
            json={"jobs": jobs},
            parse=lambda body: [Job.from_dict(j) for j in body["data"]],
        )

    def get(self, job_id: str) -> Job:
        return self._call("GET", _path("v1", "jobs", job_id), parse=Job.from_dict)

    def list(
        self,
        *,
        schedule_id: str | None = None,
        status: str | None = None,
        handler: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Job]:
        """``schedule_id="null"`` lists one-off jobs only."""
        params = _filters(
            tags,
            schedule_id=schedule_id,
            status=status,
            handler=handler,
            limit=limit,
            cursor=cursor,
        )
        return self._call("GET", "/v1/jobs", params=params, parse=_page(Job.from_dict))

    def cancel(self, job_id: str) -> Job:
        return self._call("POST", _path("v1", "jobs", job_id, "cancel"), parse=Job.from_dict)

    def retry(self, job_id: str) -> Job:
        return self._call("POST", _path("v1", "jobs", job_id, "retry"), parse=Job.from_dict)


class Backfills:
    """A backfill, by id: ``chronos.backfills.get(id)``, ``chronos.backfills.cancel(id)``."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def get(self, backfill_id: str) -> Backfill:
        return self._call("GET", _path("v1", "backfills", backfill_id), parse=Backfill.from_dict)

    def cancel(self, backfill_id: str, *, reason: str | None = None) -> Backfill:
        """Cancel its jobs not yet started (``canceled_jobs`` says how many)."""
        return self._call(
            "POST",
            _path("v1", "backfills", backfill_id, "cancel"),
            headers=_reason(reason),
            parse=Backfill.from_dict,
        )


class Audit:
    """The audit log, newest first::

    page = chronos.audit.list(resource="nightly", action="schedule.paused")
    for record in chronos.iterate(chronos.audit.list, since="2026-03-01T00:00:00Z"): ...
    """

    def __init__(self, call: Call) -> None:
        self._call = call

    def list(
        self,
        *,
        resource: str | None = None,
        resource_type: str | None = None,
        action: str | None = None,
        actor_key_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditRecord]:
        """``resource``: an id, or a name (a schedule's name finds it after its deletion)."""
        params = _filters(
            None,
            resource_id=resource,
            resource_type=resource_type,
            action=action,
            actor_key_id=actor_key_id,
            since=None if since is None else _time(since),
            until=None if until is None else _time(until),
            limit=limit,
            cursor=cursor,
        )
        return self._call("GET", "/v1/audit", params=params, parse=_page(AuditRecord.from_dict))


class Executions:
    def __init__(self, call: Call) -> None:
        self._call = call

    def get(self, execution_id: str) -> Execution:
        return self._call("GET", _path("v1", "executions", execution_id), parse=Execution.from_dict)


class _Resource(Generic[M]):
    """Create, read, change and delete one kind of resource, by id or name; ``reason`` (why)
    goes to the audit log (the ``X-Chronos-Reason`` header)."""

    _collection: str  # the path under /v1
    _model: Any  # the models class: ``from_dict``

    def __init__(self, call: Call) -> None:
        self._call = call

    def _parse(self, body: dict[str, Any]) -> M:
        parsed: M = self._model.from_dict(body)
        return parsed

    def _at(self, *parts: str) -> str:
        return _path("v1", self._collection, *parts)

    def create(self, *, reason: str | None = None, **fields: Any) -> M:
        return self._call(
            "POST", self._at(), json=_body(fields), headers=_reason(reason), parse=self._parse
        )

    def get(self, id_or_name: str) -> M:
        return self._call("GET", self._at(id_or_name), parse=self._parse)

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[M]:
        params = _filters(None, limit=limit, cursor=cursor)
        return self._call("GET", self._at(), params=params, parse=_page(self._parse))

    def update(self, id_or_name: str, *, reason: str | None = None, **fields: Any) -> M:
        """Change some fields (``PATCH``): each one given replaces the current one."""
        return self._call(
            "PATCH", self._at(id_or_name), json=fields, headers=_reason(reason), parse=self._parse
        )

    def delete(self, id_or_name: str, *, reason: str | None = None) -> None:
        return self._call(
            "DELETE", self._at(id_or_name), headers=_reason(reason), parse=lambda _: None
        )


class _NamedResource(_Resource[M]):
    """A resource that can also be created or replaced by name (``PUT``)."""

    def upsert(self, name: str, *, reason: str | None = None, **fields: Any) -> M:
        """Create or replace by name (``PUT``): safe to run from every instance at start-up."""
        return self._call(
            "PUT", self._at(name), json=_body(fields), headers=_reason(reason), parse=self._parse
        )


class Calendars(_NamedResource[Calendar]):
    """Named sets of dates a schedule excludes (``exclude_calendars=[name]``) or runs only
    on (``only_calendar=name``)::

        chronos.calendars.create(name="holidays", dates=["2026-12-25"], rules=["weekends"])
        chronos.calendars.create(name="us", ics=open("us.ics").read())

    ``create(name=…, dates=[…], ranges=[{"from", "to"}], rules=[…], ics=…)``; ``delete`` of a
    calendar that schedules name raises a conflict listing them.
    """

    _collection = "calendars"
    _model = Calendar

    def import_ics(self, id_or_name: str, ics: str, *, replace: bool = False) -> Calendar:
        """Add an iCalendar text's all-day events (``replace``: instead of the entries)."""
        return self._call(
            "POST",
            _path("v1", "calendars", id_or_name, "import"),
            json={"ics": ics, "replace": replace},
            parse=Calendar.from_dict,
        )

    def dates(
        self, id_or_name: str, start: str | None = None, end: str | None = None
    ) -> builtins.list[str]:
        """The calendar's dates from ``start`` to ``end`` (YYYY-MM-DD, both included)."""
        return self._call(
            "GET",
            _path("v1", "calendars", id_or_name, "dates"),
            params=_filters(None, **{"from": start, "to": end}),
            parse=lambda body: list(body["data"]),
        )


class Monitors(_NamedResource[Monitor]):
    """Heartbeat monitors for work that runs outside Chronos::

    chronos.monitors.create(name="backup", cron="0 2 * * *", grace="30m")
    chronos.monitors.ping("backup")  # or kind="start" / "fail"

    ``create(name=…, cron=…|interval=…, timezone=…, grace=…, max_runtime=…, tags=…)``;
    ``get`` answers with its latest pings (``pings``); ``update(enabled=False)`` pauses.
    """

    KINDS = {"ok": "ping", "start": "start", "fail": "fail"}
    _collection = "monitors"
    _model = Monitor

    def list(
        self,
        *,
        tags: dict[str, str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Monitor]:
        params = _filters(tags, limit=limit, cursor=cursor)
        return self._call("GET", self._at(), params=params, parse=_page(self._parse))

    def pause(self, id_or_name: str, *, reason: str | None = None) -> Monitor:
        return self._action(id_or_name, "pause", reason)

    def resume(self, id_or_name: str, *, reason: str | None = None) -> Monitor:
        return self._action(id_or_name, "resume", reason)

    def rotate_token(self, id_or_name: str, *, reason: str | None = None) -> Monitor:
        """A new ping token: the old ping URLs stop working."""
        return self._action(id_or_name, "rotate-token", reason)

    def _action(self, id_or_name: str, action: str, reason: str | None) -> Monitor:
        return self._call(
            "POST", self._at(id_or_name, action), headers=_reason(reason), parse=self._parse
        )

    def ping(
        self,
        id_or_name: str,
        kind: str = "ok",
        *,
        exit_code: int | None = None,
        message: Any = None,
    ) -> dict[str, Any]:
        """Ping with the API key (admin or worker): ``kind`` ``"ok"``, ``"start"`` or
        ``"fail"``; ``message`` is sent as the JSON body and kept with the ping."""
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {', '.join(self.KINDS)}, not {kind!r}")
        return self._call(
            "POST",
            _path("v1", "monitors", id_or_name, self.KINDS[kind]),
            json=message,
            params=_filters(None, exit_code=exit_code),
        )


class AlertRules(_Resource[AlertRule]):
    """Alert rules (see docs/alerts.md)::

    chronos.alert_rules.create(name="missed", condition="missed", grace="2m",
                               webhook={"url": "https://hooks.slack.com/…", "format": "slack"})

    ``create(name=…, condition=…, selector=…, grace=…, cooldown=…, webhook=…)``;
    ``update(enabled=False)`` silences a rule; ``delete`` resolves its open alerts without a
    notification (the history stays).
    """

    _collection = "alert-rules"
    _model = AlertRule


class Alerts:
    """The alert history: ``chronos.alerts.list(status="firing")``, ``chronos.alerts.get(id)``."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def list(
        self,
        *,
        status: str | None = None,
        rule_id: str | None = None,
        subject: str | None = None,
        since: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Alert]:
        params = _filters(
            None,
            status=status,
            rule_id=rule_id,
            subject=subject,
            since=_time(since) if since is not None else None,
            limit=limit,
            cursor=cursor,
        )
        return self._call("GET", "/v1/alerts", params=params, parse=_page(Alert.from_dict))

    def get(self, alert_id: str) -> Alert:
        """With its notifications (each delivery's status, attempts, HTTP status)."""
        return self._call("GET", _path("v1", "alerts", alert_id), parse=Alert.from_dict)


class Webhooks:
    """Push receivers: ``chronos.webhooks.verify(body, headers, secret)``."""

    InvalidSignature = _webhooks.InvalidSignature

    @staticmethod
    def verify(body: bytes | str, headers: Any, secret: str, tolerance: int = 300) -> None:
        _webhooks.verify(body, headers, secret, tolerance=tolerance)


def _settings(api_key: str | None, base_url: str | None) -> tuple[str, dict[str, str]]:
    key = api_key or os.environ.get("CHRONOS_API_KEY")
    if not key:
        raise ChronosError(
            "no API key: pass api_key= or set CHRONOS_API_KEY", code="missing_api_key"
        )
    url = (base_url or os.environ.get("CHRONOS_URL") or DEFAULT_URL).rstrip("/")
    return url, {"Authorization": f"Bearer {key}", "User-Agent": "chronos-python"}


def _result(response: httpx.Response, parse: Callable[[Any], Any]) -> Any:
    if response.status_code == 204:
        return parse(None)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        raise error_from_response(response.status_code, body)
    return parse(body)


class Chronos:
    """The synchronous client. ``chronos.worker`` runs handlers (see :mod:`chronos.worker`)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url, headers = _settings(api_key, base_url)
        self.api_key = headers["Authorization"].removeprefix("Bearer ")
        self._http = http or httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.schedules = Schedules(self._call)
        self.jobs = Jobs(self._call)
        self.executions = Executions(self._call)
        self.calendars = Calendars(self._call)
        self.monitors = Monitors(self._call)
        self.backfills = Backfills(self._call)
        self.audit = Audit(self._call)
        self.alert_rules = AlertRules(self._call)
        self.alerts = Alerts(self._call)
        self.webhooks = Webhooks()
        self._worker: Any = None

    @property
    def worker(self) -> Any:
        if self._worker is None:
            from chronos.worker import Worker

            self._worker = Worker(self)
        return self._worker

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        parse: Callable[[Any], Any] = lambda body: body,
    ) -> Any:
        headers = _tracing.outgoing_headers(headers)  # the caller's trace, if it has one
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach Chronos at {self.base_url}: {exc}") from exc
        return _result(response, parse)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Chronos:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def iterate(self, list_call: Callable[..., Page[Any]], **filters: Any) -> Iterator[Any]:
        """Every item of a list, following cursors: ``chronos.iterate(chronos.jobs.list)``."""
        cursor = None
        while True:
            page = list_call(**filters, cursor=cursor)
            yield from page.data
            if not page.next_cursor:
                return
            cursor = page.next_cursor


class AsyncChronos:
    """The asyncio client: same resources, every method returns an awaitable."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url, headers = _settings(api_key, base_url)
        self._http = http or httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout
        )
        self.schedules = Schedules(self._call)
        self.jobs = Jobs(self._call)
        self.executions = Executions(self._call)
        self.calendars = Calendars(self._call)
        self.monitors = Monitors(self._call)
        self.backfills = Backfills(self._call)
        self.audit = Audit(self._call)
        self.alert_rules = AlertRules(self._call)
        self.alerts = Alerts(self._call)
        self.webhooks = Webhooks()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        parse: Callable[[Any], Any] = lambda body: body,
    ) -> Any:
        headers = _tracing.outgoing_headers(headers)  # the caller's trace, if it has one
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach Chronos at {self.base_url}: {exc}") from exc
        return _result(response, parse)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def iterate(self, list_call: Callable[..., Any], **filters: Any) -> AsyncIterator[Any]:
        """Every item of a list, following cursors: ``async for r in
        chronos.iterate(chronos.audit.list): …``."""
        cursor = None
        while True:
            page = await list_call(**filters, cursor=cursor)
            for item in page.data:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def __aenter__(self) -> AsyncChronos:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()
