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
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from chronos import webhooks as _webhooks
from chronos.errors import ChronosError, ConnectionFailed, error_from_response
from chronos.models import Execution, Job, Page, Schedule, SchedulePreview, parse_time

DEFAULT_URL = "http://localhost:8080"
Call = Callable[..., Any]


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _page(parse: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Page[Any]]:
    return lambda body: Page([parse(item) for item in body["data"]], body.get("next_cursor"))


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

    def update(self, id_or_name: str, **fields: Any) -> Schedule:
        """Change some fields (``PATCH``); makes a new version."""
        return self._call(
            "PATCH", _path("v1", "schedules", id_or_name), json=fields, parse=Schedule.from_dict
        )

    def delete(self, id_or_name: str) -> None:
        return self._call("DELETE", _path("v1", "schedules", id_or_name), parse=lambda _: None)

    def _action(self, id_or_name: str, action: str, parse: Callable[[Any], Any]) -> Any:
        return self._call("POST", _path("v1", "schedules", id_or_name, action), parse=parse)

    def pause(self, id_or_name: str) -> Schedule:
        return self._action(id_or_name, "pause", Schedule.from_dict)

    def resume(self, id_or_name: str) -> Schedule:
        return self._action(id_or_name, "resume", Schedule.from_dict)

    def enable(self, id_or_name: str) -> Schedule:
        return self._action(id_or_name, "enable", Schedule.from_dict)

    def disable(self, id_or_name: str) -> Schedule:
        return self._action(id_or_name, "disable", Schedule.from_dict)

    def trigger(self, id_or_name: str) -> Job:
        """Run now, as a job with ``trigger="manual"``."""
        return self._action(id_or_name, "trigger", Job.from_dict)

    def upcoming(self, id_or_name: str, count: int = 10) -> builtins.list[datetime]:
        return self._call(
            "GET",
            _path("v1", "schedules", id_or_name, "upcoming"),
            params={"count": count},
            parse=lambda body: [parse_time(t) for t in body["data"]],
        )


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


class Executions:
    def __init__(self, call: Call) -> None:
        self._call = call

    def get(self, execution_id: str) -> Execution:
        return self._call("GET", _path("v1", "executions", execution_id), parse=Execution.from_dict)


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
        parse: Callable[[Any], Any] = lambda body: body,
    ) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params)
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
        self.webhooks = Webhooks()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        parse: Callable[[Any], Any] = lambda body: body,
    ) -> Any:
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach Chronos at {self.base_url}: {exc}") from exc
        return _result(response, parse)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncChronos:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()
