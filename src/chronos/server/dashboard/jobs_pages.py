"""``/jobs``, ``/jobs/{id}`` and ``/dead-letter``: jobs with their filters, a job's executions
as timelines, cancel and retry (one, or failed jobs in bulk).

Every read and action is a ``runtime.jobs`` call, the same as ``/v1/jobs``: the filters are a
:class:`JobFilter` (creation time through ``parse_created_range``, tags through the API's own
``tag_filters``), a schedule filter names the schedule by id or name (``runtime.schedules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.errors import ChronosError
from chronos.server.api.deps import tag_filters
from chronos.server.dashboard.auth import SessionDep, check_action, form_items, safe_next
from chronos.server.dashboard.render import flash, page
from chronos.server.dashboard.routing import DashboardRoute, is_htmx
from chronos.server.domain.jsonsafe import storable, storable_text
from chronos.server.domain.rows import ExecutionRow, JobRow, ScheduleRow
from chronos.server.domain.states import (
    CANCELABLE,
    RETRYABLE_BY_USER,
    JobStatus,
    JobTrigger,
)
from chronos.server.errors import BadRequest, NotFound
from chronos.server.runtime import Runtime
from chronos.server.services.jobs import JobFilter, parse_created_range

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 50
BULK_LIMIT = 500
# Failures named one by one in a bulk action's report; the rest are counted.
REPORTED_FAILURES = 5
STATUSES = [s.value for s in JobStatus if s is not JobStatus.ADMITTING]
TRIGGERS = [t.value for t in JobTrigger]
MAX_ID_LENGTH = 64

E = TypeVar("E", bound=StrEnum)


# --- pages ------------------------------------------------------------------------------------


@router.get("/jobs")
async def jobs_page(request: Request, session: SessionDep) -> Response:
    if "tag" in request.query_params:
        return _with_tag_params(request)
    runtime: Runtime = request.app.state.runtime
    listing = await _listing(request, runtime, session.account_id)
    context = {
        "listing": listing,
        "statuses": STATUSES,
        "triggers": TRIGGERS,
        "tags": sorted(listing.tags.items()),
    }
    return page(request, "jobs.html", session, context)


@router.get("/dead-letter")
async def dead_letter_page(request: Request, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    listing = await _listing(request, runtime, session.account_id, status=JobStatus.FAILED)
    context = {"listing": listing, "bulk_limit": BULK_LIMIT}
    return page(request, "dead_letter.html", session, context)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    job, executions = await runtime.jobs.get(session.account_id, _job_id(job_id))
    context = {
        "job": job,
        "payload": storable(job["payload"]),
        "result": storable(job["result"]),
        "last_error": storable(job["last_error"]),
        "delivery": _delivery(job),
        "attempts": _attempts(job, executions),
        "next_attempt_at": _next_attempt_at(job, executions),
        "max_attempt": job["retry_base"] + job["max_retries"] + 1,
        "can_cancel": JobStatus(job["status"]) in CANCELABLE,
        "can_retry": JobStatus(job["status"]) in RETRYABLE_BY_USER,
    }
    return page(request, "job.html", session, context)


# --- actions ----------------------------------------------------------------------------------


@router.post("/jobs/bulk-retry")
async def bulk_retry(request: Request, session: SessionDep) -> Response:
    """Retry the selected failed (or canceled) jobs; each that cannot be is reported."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    ids = list(dict.fromkeys(v.strip() for k, v in await form_items(request) if k == "ids"))
    ids = [i for i in ids if i]
    if not ids:
        raise BadRequest("select at least one job to retry")
    if len(ids) > BULK_LIMIT:
        raise BadRequest(f"at most {BULK_LIMIT} jobs at once ({len(ids)} were selected)")
    failures: list[tuple[str, str]] = []
    for job_id in ids:
        try:
            await runtime.jobs.retry(session.account_id, _job_id(job_id))
        except ChronosError as exc:
            failures.append((job_id, exc.message))
    retried = len(ids) - len(failures)
    message = f"Retried {retried} job{'s' if retried != 1 else ''}"
    if failures:
        named = "; ".join(f"{job_id}: {reason}" for job_id, reason in failures[:REPORTED_FAILURES])
        more = len(failures) - REPORTED_FAILURES
        message += f"; {len(failures)} failed: {named}" + (f"; and {more} more" if more > 0 else "")
    return _done(request, message, kind="error" if failures else "ok", back="/dead-letter")


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str, session: SessionDep) -> Response:
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    job = await runtime.jobs.cancel(session.account_id, _job_id(job_id))
    return _done(request, f"Canceled {_label(job)}", back=f"/jobs/{job['id']}")


@router.post("/jobs/{job_id}/retry")
async def retry_job(request: Request, job_id: str, session: SessionDep) -> Response:
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    job = await runtime.jobs.retry(session.account_id, _job_id(job_id))
    return _done(
        request, f"Retrying {_label(job)}: it is {job['status']}", back=f"/jobs/{job['id']}"
    )


def _done(request: Request, message: str, *, back: str, kind: str = "ok") -> Response:
    """htmx: the message in the flash area (the page's job regions refresh on the change's
    own live event: one refresh, not a second racing the user's next click). A plain form:
    back to the page it came from."""
    if is_htmx(request):
        return flash(message, kind=kind)
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.headers.get("host", "") and referer.path:
        back = safe_next(urlunsplit(("", "", referer.path, referer.query, "")))
    return RedirectResponse(back, status_code=303)


def _label(job: JobRow) -> str:
    return f"{job['name']} ({job['id']})" if job["name"] else job["id"]


def _job_id(text: str) -> str:
    """A job id as typed or posted; what cannot be one is simply not found."""
    if not text or len(text) > MAX_ID_LENGTH or not text.isascii() or not text.isprintable():
        raise NotFound(f"no job {text[:MAX_ID_LENGTH]!r}")
    return text


# --- filters ----------------------------------------------------------------------------------


@dataclass
class Listing:
    """A page of jobs, the filter it came from, and the filter's values as typed."""

    values: dict[str, str]
    tags: dict[str, str]
    where: JobFilter | None = None
    schedule: ScheduleRow | None = None
    problem: str | None = None  # a filter that names nothing: the page says so, lists nothing
    rows: list[JobRow] = field(default_factory=list)
    next_cursor: str | None = None
    from_input: str = ""  # the time bounds as datetime-local values (UTC)
    to_input: str = ""

    @property
    def filtered(self) -> bool:
        return any(self.values.values()) or bool(self.tags)


async def _listing(
    request: Request, runtime: Runtime, account_id: str, *, status: JobStatus | None = None
) -> Listing:
    params = request.query_params
    names = ("status", "handler", "schedule", "trigger", "from", "to")
    values = {name: params.get(name, "").strip() for name in names}
    start, end = parse_created_range(values["from"], values["to"], names=("from", "to"))
    listing = Listing(
        values, tag_filters(request), from_input=_local_input(start), to_input=_local_input(end)
    )
    schedule_id = None
    if values["schedule"]:
        try:
            listing.schedule = (await runtime.schedules.get(account_id, values["schedule"])).row
        except NotFound:
            listing.problem = f"No schedule has the id or name {values['schedule']!r}."
            return listing
        schedule_id = listing.schedule["id"]
    listing.where = JobFilter(
        schedule_id=schedule_id,
        status=status or _choice(JobStatus, "status", values["status"]),
        handler=values["handler"] or None,
        tags=listing.tags,
        created_from=start,
        created_to=end,
        trigger=_choice(JobTrigger, "trigger", values["trigger"]),
    )
    listing.rows, listing.next_cursor = await runtime.jobs.find(
        account_id, listing.where, cursor=params.get("cursor") or None, limit=PAGE_SIZE
    )
    return listing


def _choice(kind: type[E], name: str, value: str) -> E | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        options = ", ".join(member.value for member in kind)
        raise BadRequest(f"{name}: {value[:40]!r} is not one of {options}") from None


def _local_input(value: datetime | None) -> str:
    """A ``datetime-local`` input's value for a UTC instant."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")


def _with_tag_params(request: Request) -> Response:
    """The form's ``tag=KEY=VALUE`` box becomes the URL's ``tag.KEY=VALUE`` (the API's form)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("tag", "cursor")]
    for text in request.query_params.getlist("tag"):
        if not text.strip():
            continue
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise BadRequest(f"tag: write KEY=VALUE, e.g. team=payments (got {text[:40]!r})")
        kept = [(k, v) for k, v in kept if k != f"tag.{key.strip()}"]
        kept.append((f"tag.{key.strip()}", value.strip()))
    target = request.url.path + ("?" + urlencode(kept) if kept else "")
    return RedirectResponse(target, status_code=303)


# --- a job's page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    label: str
    at: datetime
    since_previous_ms: float | None


@dataclass(frozen=True)
class Attempt:
    execution: ExecutionRow
    steps: list[Step]
    error: dict[str, Any] | None  # type, message; traceback and the rest apart
    traceback: str | None
    error_rest: Any
    output: Any
    response_excerpt: str | None


def _attempts(job: JobRow, executions: list[ExecutionRow]) -> list[Attempt]:
    """Each execution as a timeline: created → scheduled for → ready → claimed → finished.

    A job keeps only its current ``run_at``: it is the latest attempt's ready time (once that
    attempt has started); earlier attempts show when they were claimed and finished."""
    found = []
    for index, execution in enumerate(executions):
        latest = index == len(executions) - 1
        marks: list[tuple[str, datetime | None]] = []
        if index == 0:
            marks += [("created", job["created_at"]), ("scheduled for", job["scheduled_for"])]
        if latest and job["run_at"] <= execution["started_at"]:
            marks.append(("ready", job["run_at"]))
        marks += [("claimed", execution["started_at"]), ("finished", execution["finished_at"])]
        found.append(_attempt(execution, _steps(marks)))
    return found


def _steps(marks: list[tuple[str, datetime | None]]) -> list[Step]:
    steps: list[Step] = []
    for label, at in marks:
        if at is None:
            continue
        previous = steps[-1].at if steps else None
        gap = (at - previous).total_seconds() * 1000 if previous is not None else None
        steps.append(Step(label, at, gap))
    return steps


def _attempt(execution: ExecutionRow, steps: list[Step]) -> Attempt:
    error = storable(execution["error"])
    traceback = None
    shown: dict[str, Any] | None = None
    rest: Any = None
    if isinstance(error, dict):
        shown = {k: error[k] for k in ("type", "message") if error.get(k) is not None}
        if isinstance(error.get("traceback"), str):
            traceback = error["traceback"]
        rest = {k: v for k, v in error.items() if k not in ("type", "message", "traceback")}
    elif error is not None:
        rest = error
    excerpt = execution["response_excerpt"]
    return Attempt(
        execution=execution,
        steps=steps,
        error=shown or None,
        traceback=traceback,
        error_rest=rest or None,
        output=storable(execution["output"]),
        response_excerpt=storable_text(excerpt) if excerpt is not None else None,
    )


def _next_attempt_at(job: JobRow, executions: list[ExecutionRow]) -> datetime | None:
    """When a job waiting for another attempt becomes due (a retry, or a user's retry)."""
    waiting = job["status"] in (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.READY)
    return job["run_at"] if waiting and executions else None


def _delivery(job: JobRow) -> dict[str, Any]:
    """How the job is delivered, without secrets: a push target's header names only."""
    http = job["delivery"].get("http")
    if job["delivery_type"] != "push" or not http:
        return {"type": job["delivery_type"]}
    return {
        "type": "push",
        "method": http.get("method", "POST"),
        "url": _without_credentials(http.get("url", "")),
        "header_names": sorted((http.get("headers") or {}).keys(), key=str.lower),
        "success_codes": http.get("success_codes") or [],
        "custom_body": http.get("body") is not None,
    }


def _without_credentials(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
