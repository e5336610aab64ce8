"""Client commands: ``chronos schedules …``, ``chronos jobs …``, ``chronos executions …``.

They talk to a running server through the SDK (``CHRONOS_URL``, ``CHRONOS_API_KEY``, or
``--url`` and ``--api-key``). People get rich tables; scripts pass ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from chronos.cli import output
from chronos.cli.timing import (
    DstGapOption,
    DstOverlapOption,
    JitterOption,
    SpreadOption,
    timing_fields,
)
from chronos.client import Chronos
from chronos.errors import ChronosError, NotFoundError

console = Console()
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print the API's JSON")]
UrlOption = Annotated[
    str | None, typer.Option("--url", envvar="CHRONOS_URL", help="default http://localhost:8080")
]
KeyOption = Annotated[str | None, typer.Option("--api-key", envvar="CHRONOS_API_KEY")]


def _connection(ctx: typer.Context, url: UrlOption = None, api_key: KeyOption = None) -> None:
    ctx.obj = {"url": url, "api_key": api_key}


schedules_app = typer.Typer(no_args_is_help=True, help="Schedules.", callback=_connection)
jobs_app = typer.Typer(no_args_is_help=True, help="Jobs.", callback=_connection)
executions_app = typer.Typer(no_args_is_help=True, help="Executions.", callback=_connection)


@contextmanager
def _client(ctx: typer.Context) -> Iterator[Chronos]:
    try:
        with Chronos(api_key=ctx.obj["api_key"], base_url=ctx.obj["url"]) as client:
            yield client
    except ChronosError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {escape(exc.message)}")
        for problem in exc.details if isinstance(exc.details, list) else []:
            if isinstance(problem, dict) and "message" in problem:  # which field, and why
                where = ".".join(str(part) for part in problem.get("loc") or [])
                err_console.print(f"  {escape(where)}: {escape(str(problem['message']))}")
        raise typer.Exit(1) from exc


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _table(columns: list[str], rows: list[list[Any]]) -> None:
    """A table for people: ids never cut (see :mod:`chronos.cli.output`)."""
    output.table(columns, rows)


def _fields(raw: dict[str, Any], keys: list[str], timezone: str | None = None) -> None:
    """A field/value table; times in ``timezone`` (UTC without one, or with ``--utc``)."""
    _table(
        ["field", "value"],
        [[k, output.field_value(k, raw[k], timezone)] for k in keys if k in raw],
    )


def resolve_schedule_id(client: Chronos, value: str) -> str:
    """A schedule's id from its id or name. An id is taken as it is (its schedule may have
    been deleted while its jobs stay); a name must exist (``NotFoundError`` otherwise)."""
    if value == "null" or output.looks_like_id(value):
        return value
    return client.schedules.get(value).id


def schedule_zones(client: Chronos, schedule_ids: Any) -> dict[str, str]:
    """Each schedule's timezone, by id; a deleted schedule is left out (its times show in
    UTC)."""
    zones: dict[str, str] = {}
    for schedule_id in {s for s in schedule_ids if s}:
        with suppress(NotFoundError):
            zones[schedule_id] = client.schedules.get(schedule_id).timezone
    return zones


def _tags(pairs: list[str] | None) -> dict[str, str]:
    tags = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"tags are KEY=VALUE, got {pair!r}")
        tags[key] = value
    return tags


TagOption = Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE (repeatable)")]

SCHEDULE_FIELDS = [
    "id",
    "name",
    "state",
    "handler",
    "cron",
    "cron_resolved",
    "interval",
    "timezone",
    "dst_policy",
    "jitter",
    "spread",
    "exclude_calendars",
    "only_calendar",
    "next_run_at",
    "last_run_at",
    "last_status",
    "success_rate",
    "version",
    "concurrency",
    "misfire_policy",
    "delivery",
    "tags",
    "payload",
    "created_at",
    "updated_at",
]
JOB_FIELDS = [
    "id",
    "name",
    "handler",
    "status",
    "trigger",
    "schedule_id",
    "attempt",
    "scheduled_for",
    "run_at",
    "payload",
    "result",
    "last_error",
    "finished_at",
]
EXECUTION_FIELDS = [
    "id",
    "job_id",
    "attempt",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "worker_id",
    "http_status",
    "error",
    "output",
    "response_excerpt",
]


def _when(schedule: dict[str, Any]) -> str:
    if schedule.get("cron"):
        return f"cron {schedule['cron']} ({schedule['timezone']})"
    interval = schedule.get("interval") or {}
    return f"every {interval.get('value')} {interval.get('unit')}"


@schedules_app.command("list")
def schedules_list(
    ctx: typer.Context,
    state: str | None = None,
    handler: str | None = None,
    tag: TagOption = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """List schedules."""
    with _client(ctx) as client:
        page = client.schedules.list(state=state, handler=handler, tags=_tags(tag), limit=limit)
    if as_json:
        return _print_json([s.raw for s in page.data])
    _table(
        ["name", "state", "when", "next run", "last status", "success"],
        [
            [
                s.name,
                s.state,
                _when(s.raw),
                output.when(s.raw["next_run_at"], s.timezone),
                s.last_status,
                output.percent(s.success_rate),
            ]
            for s in page.data
        ],
    )


@schedules_app.command("show")
def schedules_show(ctx: typer.Context, schedule: str, as_json: JsonFlag = False) -> None:
    """Show one schedule (by id or name)."""
    with _client(ctx) as client:
        found = client.schedules.get(schedule)
    if as_json:
        return _print_json(found.raw)
    _fields(found.raw, SCHEDULE_FIELDS, found.timezone)


HandlerOption = Annotated[str | None, typer.Option(help="pull handler name")]
CronOption = Annotated[str | None, typer.Option(help='e.g. "0 2 * * *"')]
EveryOption = Annotated[str | None, typer.Option(help='an interval, e.g. "90s", "1h"')]
PayloadOption = Annotated[str | None, typer.Option(help="JSON")]
FromFileOption = Annotated[
    typer.FileText | None,
    typer.Option("--from-file", help="a JSON schedule body; options given override it"),
]


def _schedule_body(
    name: str,
    handler: str | None,
    cron: str | None,
    every: str | None,
    timezone: str,
    payload: str | None,
    tag: list[str] | None,
    from_file: Any,
) -> dict[str, Any]:
    """The body ``schedules create`` (and ``preview``) sends: the file, then the options."""
    body: dict[str, Any] = json.load(from_file) if from_file else {}
    body["name"] = name
    options = {
        "handler": handler,
        "cron": cron,
        "timezone": timezone if cron else None,
        "schedule": f"@every {every}" if every else None,
        "payload": json.loads(payload) if payload else None,
        "tags": _tags(tag) or None,
    }
    body.update({k: v for k, v in options.items() if v is not None})
    return body


@schedules_app.command("create")
def schedules_create(
    ctx: typer.Context,
    name: str,
    handler: HandlerOption = None,
    cron: CronOption = None,
    every: EveryOption = None,
    timezone: str = "UTC",
    payload: PayloadOption = None,
    tag: TagOption = None,
    from_file: FromFileOption = None,
    jitter: JitterOption = None,
    spread: SpreadOption = None,
    dst_gap: DstGapOption = None,
    dst_overlap: DstOverlapOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a schedule."""
    body = _schedule_body(name, handler, cron, every, timezone, payload, tag, from_file)
    body = timing_fields(body, jitter, spread, dst_gap, dst_overlap)
    with _client(ctx) as client:
        created = client.schedules.create(**body)
    if as_json:
        return _print_json(created.raw)
    console.print(
        f"created schedule [bold]{created.name}[/bold] ({created.id}), "
        f"next run {output.when(created.raw['next_run_at'], created.timezone)}",
        soft_wrap=True,
    )


@schedules_app.command("preview")
def schedules_preview(
    ctx: typer.Context,
    name: str,
    handler: HandlerOption = None,
    cron: CronOption = None,
    every: EveryOption = None,
    timezone: str = "UTC",
    payload: PayloadOption = None,
    tag: TagOption = None,
    from_file: FromFileOption = None,
    jitter: JitterOption = None,
    spread: SpreadOption = None,
    dst_gap: DstGapOption = None,
    dst_overlap: DstOverlapOption = None,
    count: Annotated[int, typer.Option(min=1, max=100, help="how many fires")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Show a schedule's next fires without creating it (same options as create)."""
    body = _schedule_body(name, handler, cron, every, timezone, payload, tag, from_file)
    body = timing_fields(body, jitter, spread, dst_gap, dst_overlap)
    with _client(ctx) as client:
        preview = client.schedules.preview(count=count, **body)
    if as_json:
        return _print_json(preview.raw)
    console.print(escape(preview.description), soft_wrap=True)
    rows = [list(pair) for pair in zip(preview.raw["local"], preview.raw["data"], strict=True)]
    if any(preview.dst):  # what the DST policy did to each fire (docs/dst.md)
        rows = [[*row, note or ""] for row, note in zip(rows, preview.dst, strict=False)]
    _table([f"local ({preview.timezone})", "UTC", "DST"][: len(rows[0]) if rows else 2], rows)
    if not preview.fires:
        console.print("no upcoming fires")
    for warning in preview.warnings:
        console.print(
            f"[yellow]warning[/yellow] {escape(warning['code'])}: {escape(warning['message'])}",
            soft_wrap=True,
        )


ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="why, for the audit log (X-Chronos-Reason)")
]


def _schedule_action(action: str, describe: Callable[[Any], str]) -> Callable[..., None]:
    def command(
        ctx: typer.Context, schedule: str, reason: ReasonOption = None, as_json: JsonFlag = False
    ) -> None:
        with _client(ctx) as client:
            result = getattr(client.schedules, action)(schedule, reason=reason)
        if as_json:
            return _print_json(result.raw)
        console.print(describe(result))

    command.__doc__ = f"{action.capitalize()} a schedule."
    return command


@schedules_app.command("pause")
def schedules_pause(
    ctx: typer.Context,
    schedule: str,
    note: Annotated[
        str | None, typer.Option("--note", help="why; shown with the paused schedule")
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pause a schedule (the note is also the audit log's reason unless --reason is given)."""
    with _client(ctx) as client:
        paused = client.schedules.pause(schedule, note=note, reason=reason)
    if as_json:
        return _print_json(paused.raw)
    console.print(f"{paused.name}: {paused.state}")


schedules_app.command("resume")(_schedule_action("resume", lambda s: f"{s.name}: {s.state}"))
schedules_app.command("enable")(_schedule_action("enable", lambda s: f"{s.name}: {s.state}"))
schedules_app.command("disable")(_schedule_action("disable", lambda s: f"{s.name}: {s.state}"))
schedules_app.command("trigger")(
    _schedule_action("trigger", lambda j: f"triggered job {j.id} ({j.status})")
)


@schedules_app.command("delete")
def schedules_delete(
    ctx: typer.Context, schedule: str, reason: ReasonOption = None, as_json: JsonFlag = False
) -> None:
    """Delete a schedule (its jobs stay)."""
    with _client(ctx) as client:
        client.schedules.delete(schedule, reason=reason)
    if as_json:
        return _print_json({"deleted": schedule})
    console.print(f"deleted {schedule}")


@schedules_app.command("upcoming")
def schedules_upcoming(
    ctx: typer.Context, schedule: str, count: int = 10, as_json: JsonFlag = False
) -> None:
    """The next fire times (in the schedule's timezone; UTC with ``chronos --utc``)."""
    with _client(ctx) as client:
        times = client.schedules.upcoming(schedule, count)
        zone = None if as_json else client.schedules.get(schedule).timezone
    if as_json:
        return _print_json([t.isoformat().replace("+00:00", "Z") for t in times])
    for time in times:
        console.print(output.when(time, zone), highlight=False)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            "--schedule-id",
            help="a schedule's name or id (null: one-off jobs only)",
        ),
    ] = None,
    status: str | None = None,
    handler: str | None = None,
    tag: TagOption = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first; times in their schedule's timezone (one-off jobs: UTC)."""
    with _client(ctx) as client:
        schedule_id = resolve_schedule_id(client, schedule) if schedule else None
        page = client.jobs.list(
            schedule_id=schedule_id, status=status, handler=handler, tags=_tags(tag), limit=limit
        )
        zones = {} if as_json else schedule_zones(client, (j.schedule_id for j in page.data))
    if as_json:
        return _print_json([j.raw for j in page.data])
    _table(
        ["id", "name", "handler", "status", "attempt", "run at"],
        [
            [
                j.id,
                j.name,
                j.handler,
                j.status,
                j.attempt,
                output.when(j.raw["run_at"], zones.get(j.schedule_id or "")),
            ]
            for j in page.data
        ],
    )


@jobs_app.command("show")
def jobs_show(ctx: typer.Context, job_id: str, as_json: JsonFlag = False) -> None:
    """Show a job and its executions."""
    with _client(ctx) as client:
        job = client.jobs.get(job_id)
        zone = (
            None
            if as_json
            else schedule_zones(client, [job.schedule_id]).get(job.schedule_id or "")
        )
    if as_json:
        return _print_json(job.raw)
    _fields(job.raw, JOB_FIELDS, zone)
    _table(
        ["execution", "attempt", "status", "started", "ms", "error"],
        [
            [
                e.id,
                e.attempt,
                e.status,
                output.when(e.raw["started_at"], zone),
                e.duration_ms,
                (e.error or {}).get("message") if isinstance(e.error, dict) else e.error,
            ]
            for e in job.executions
        ],
    )


def _job_action(action: str) -> Callable[..., None]:
    def command(ctx: typer.Context, job_id: str, as_json: JsonFlag = False) -> None:
        with _client(ctx) as client:
            job = getattr(client.jobs, action)(job_id)
        if as_json:
            return _print_json(job.raw)
        console.print(f"{job.id}: {job.status}")

    command.__doc__ = f"{action.capitalize()} a job."
    return command


jobs_app.command("cancel")(_job_action("cancel"))
jobs_app.command("retry")(_job_action("retry"))


@executions_app.command("show")
def executions_show(ctx: typer.Context, execution_id: str, as_json: JsonFlag = False) -> None:
    """Show one execution."""
    with _client(ctx) as client:
        execution = client.executions.get(execution_id)
        zone = None
        if not as_json:  # its job's schedule's timezone, when it has one
            job = client.jobs.get(execution.job_id)
            zone = schedule_zones(client, [job.schedule_id]).get(job.schedule_id or "")
    if as_json:
        return _print_json(execution.raw)
    _fields(execution.raw, EXECUTION_FIELDS, zone)
