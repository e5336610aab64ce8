"""``chronos monitors …``: heartbeat monitors for work that runs outside Chronos.

chronos monitors create backup --cron "0 2 * * *" --timezone Europe/Paris --grace 30m
chronos monitors list
chronos monitors show backup              # with its ping URLs and latest pings
chronos monitors ping backup [--start | --fail [--exit-code N]]
chronos monitors update backup --cron "0 3 * * *" --grace 1h --reason "moved to 3am"
chronos monitors pause backup [--reason …] / resume backup / delete backup
chronos monitors rotate-token backup      # prints the new ping URLs (the old ones stop working)
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chronos.cli import output
from chronos.cli.client import (
    JsonFlag,
    ReasonOption,
    TagOption,
    _client,
    _connection,
    _fields,
    _print_json,
    _table,
    _tags,
    console,
)
from chronos.cli.patching import PatchFileOption, nothing_given, read_patch, report

monitors_app = typer.Typer(
    no_args_is_help=True, help="Heartbeat monitors (crontabs, CI jobs).", callback=_connection
)

MONITOR_FIELDS = [
    "id",
    "name",
    "state",
    "expectation",
    "cron",
    "interval",
    "timezone",
    "grace",
    "max_runtime",
    "last_ping_at",
    "last_ping_kind",
    "last_start_at",
    "next_expected_at",
    "late_after",
    "problem",
    "tags",
    "ping_urls",
]


@monitors_app.command("list")
def monitors_list(ctx: typer.Context, tag: TagOption = None, as_json: JsonFlag = False) -> None:
    """Every monitor, with its state as of now (new, up, late, failed, paused)."""
    with _client(ctx) as client:
        monitors = list(client.iterate(client.monitors.list, tags=_tags(tag) or None))
    if as_json:
        _print_json([m.raw for m in monitors])
        return
    _table(
        ["name", "state", "expected", "last ping", "late after"],
        [
            [
                m.name,
                m.state,
                m.expectation,
                output.when(m.raw["last_ping_at"], m.timezone),
                output.when(m.raw["late_after"], m.timezone),
            ]
            for m in monitors
        ],
    )


@monitors_app.command("show")
def monitors_show(ctx: typer.Context, monitor: str, as_json: JsonFlag = False) -> None:
    """A monitor, its ping URLs and its latest pings."""
    with _client(ctx) as client:
        found = client.monitors.get(monitor)
    if as_json:
        _print_json(found.raw)
        return
    _fields(found.raw, MONITOR_FIELDS, found.timezone)
    pings = found.raw.get("pings") or []
    if pings:
        _table(
            ["at", "kind", "exit code", "from"],
            [
                [output.when(p["at"], found.timezone), p["kind"], p["exit_code"], p["source_ip"]]
                for p in pings[:20]
            ],
        )


@monitors_app.command("create")
def monitors_create(
    ctx: typer.Context,
    name: str,
    cron: Annotated[str | None, typer.Option(help='"0 2 * * *" (or --every)')] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="a ping expected this long after the last: 1h")
    ] = None,
    timezone: Annotated[str, typer.Option(help="the cron's IANA timezone")] = "UTC",
    grace: Annotated[str | None, typer.Option(help="how late a ping may be: 5m (default)")] = None,
    max_runtime: Annotated[
        str | None, typer.Option("--max-runtime", help="how long a /start may run: 30m")
    ] = None,
    description: str | None = None,
    tag: TagOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a monitor; prints its ping URL (no API key needed to ping it)."""
    body: dict[str, Any] = {
        "name": name,
        "cron": cron,
        "interval": every,
        "timezone": timezone,
        "grace": grace,
        "max_runtime": max_runtime,
        "description": description,
        "tags": _tags(tag) or None,
    }
    with _client(ctx) as client:
        created = client.monitors.create(**body)
    if as_json:
        return _print_json(created.raw)
    urls = created.ping_urls or {}
    console.print(
        f"created monitor [bold]{created.name}[/bold] ({created.id}): {created.expectation}"
    )
    console.print(f"ping it with:  curl -fsS -m 10 --retry 3 {urls.get('ok')}", soft_wrap=True)


@monitors_app.command("ping")
def monitors_ping(
    ctx: typer.Context,
    monitor: str,
    start: Annotated[bool, typer.Option("--start", help="the job started")] = False,
    fail: Annotated[bool, typer.Option("--fail", help="the job failed")] = False,
    exit_code: Annotated[int | None, typer.Option("--exit-code")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ping a monitor with the API key (a good run, or --start, or --fail)."""
    if start and fail:
        raise typer.BadParameter("give --start or --fail, not both")
    kind = "start" if start else "fail" if fail else "ok"
    with _client(ctx) as client:
        answer = client.monitors.ping(monitor, kind, exit_code=exit_code)
    if as_json:
        return _print_json(answer)
    console.print(f"{kind} ping recorded: {monitor} is {answer['state']}")


@monitors_app.command("update")
def monitors_update(
    ctx: typer.Context,
    monitor: str,
    cron: Annotated[str | None, typer.Option(help='"0 2 * * *" (replaces --interval)')] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", "--every", help="a ping expected this long after the last"),
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="the cron's IANA timezone")] = None,
    grace: Annotated[str | None, typer.Option(help="how late a ping may be: 5m")] = None,
    max_runtime: Annotated[
        str | None, typer.Option("--max-runtime", help="how long a /start may run: 30m")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    file: PatchFileOption = None,
    reason: ReasonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a monitor (by id or name); shows what changed.

    Each option given replaces the current value (--cron and --interval replace each other);
    -f FILE: a PATCH body."""
    body = read_patch(file)
    given = {
        "cron": cron,
        "interval": interval,
        "timezone": timezone,
        "grace": grace,
        "max_runtime": max_runtime,
        "description": description,
    }
    body.update({k: v for k, v in given.items() if v is not None})
    if not body:
        nothing_given()
    with _client(ctx) as client:
        current = client.monitors.get(monitor)
        updated = client.monitors.update(current.id, reason=reason, **body)
    keys = ["name", "description", "cron", "interval", "timezone", "grace", "max_runtime", "tags"]
    report("monitor", current.raw, updated.raw, keys, as_json)
    if not as_json:
        console.print(f"{updated.name}: {updated.expectation}, {updated.state}")


@monitors_app.command("rotate-token")
def monitors_rotate_token(
    ctx: typer.Context, monitor: str, reason: ReasonOption = None, as_json: JsonFlag = False
) -> None:
    """A new ping token: prints the new ping URLs (the old ones answer 404 from now on)."""
    with _client(ctx) as client:
        rotated = client.monitors.rotate_token(monitor, reason=reason)
    if as_json:
        return _print_json(rotated.raw)
    console.print(f"new ping URLs for [bold]{rotated.name}[/bold] (the old ones stop working):")
    for kind, url in (rotated.ping_urls or {}).items():
        console.print(f"  {kind}: {url}", soft_wrap=True, highlight=False)


def _action(action: str) -> Any:
    def run(
        ctx: typer.Context, monitor: str, reason: ReasonOption = None, as_json: JsonFlag = False
    ) -> None:
        with _client(ctx) as client:
            if action == "delete":
                client.monitors.delete(monitor, reason=reason)
                if as_json:
                    return _print_json({"deleted": monitor})
                console.print(f"deleted monitor {monitor}")
                return
            done = getattr(client.monitors, action)(monitor, reason=reason)
        if as_json:
            return _print_json(done.raw)
        console.print(f"{done.name} is {done.state}")

    run.__doc__ = {
        "pause": "Pause: never late, never failed.",
        "resume": "Resume: expected again from now.",
        "delete": "Delete a monitor and its pings.",
    }[action]
    return run


for _name in ("pause", "resume", "delete"):
    monitors_app.command(_name)(_action(_name))
