"""``chronos import crontab FILE``: a Vixie/cronie crontab becomes schedules.

    chronos import crontab /etc/cron.d/app --timezone Europe/Paris --dry-run
    chronos import crontab crontab.txt --push-url https://ops.example.com/run --yes
    crontab -l | chronos import crontab - --name-prefix web1-

Each job line becomes a schedule (see :mod:`chronos.crontab`); the preview lists them with
their next fire before anything is created. The schedules are written by the same code as
``chronos apply``, so importing the same crontab again changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chronos.ascode.plan import ApplyResult, Declared
from chronos.cli.ascode import (
    apply_declared,
    connect,
    console,
    err_console,
    render_item,
    summary,
)
from chronos.cli.client import KeyOption, UrlOption
from chronos.crontab import CrontabError, parse_crontab, to_schedules

import_app = typer.Typer(no_args_is_help=True, help="Import schedules from other schedulers.")


class HandlerFrom:
    command = "command"


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]error[/red]: cannot read {escape(file)}: {exc}")
        raise typer.Exit(1) from exc


def _preview(result: ApplyResult, lines: dict[str, int], bodies: dict[str, dict]) -> None:
    table = Table(header_style="bold")
    for column in ("line", "cron", "timezone", "name", "handler", "next fire", "action"):
        table.add_column(column, overflow="fold")  # never cut: names are copied from here
    for item in result.items:
        body = bodies.get(item.name, {})
        table.add_row(
            str(lines.get(item.name, "")),
            escape(str(body.get("cron", ""))),
            escape(str(body.get("timezone", ""))),
            escape(item.name),
            escape(str(body.get("handler") or "")),
            item.next_fire or (item.current or {}).get("next_run_at") or "",
            item.action,
        )
    console.print(table)


@import_app.command("crontab")
def import_crontab(
    file: Annotated[str, typer.Argument(help="a crontab file, or - for standard input")],
    handler_from: Annotated[
        str,
        typer.Option(
            "--handler-from",
            help="command: pull jobs, handler = the program's name, payload = the command",
        ),
    ] = "command",
    push_url: Annotated[
        str | None,
        typer.Option("--push-url", help="push delivery: Chronos posts each job here instead"),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="timezone of lines without CRON_TZ (cron uses its machine's)")
    ] = "UTC",
    name_prefix: Annotated[str, typer.Option(help="put before every schedule name")] = "",
    system: Annotated[
        bool, typer.Option("--system", help="/etc/crontab format: a user before each command")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="preview only")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the result as JSON (no preview, no question)")
    ] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Turn a Vixie/cronie crontab into schedules, with a preview first."""
    if handler_from != HandlerFrom.command:
        raise typer.BadParameter(
            "the only handler source is 'command'", param_hint="--handler-from"
        )
    try:
        crontab = parse_crontab(_read(file), system=system)
    except CrontabError as exc:
        err_console.print(f"[red]error[/red]: {escape(file)} cannot be imported:")
        for line, message in exc.errors:
            err_console.print(f"  {escape(file)}:{line}: {escape(message)}", soft_wrap=True)
        raise typer.Exit(1) from exc
    for line, note in crontab.notes:
        err_console.print(f"[dim]{escape(file)}:{line}: {escape(note)}[/dim]", soft_wrap=True)
    if not crontab.entries:
        err_console.print(f"[red]error[/red]: {escape(file)} has no job lines")
        raise typer.Exit(1)
    bodies = to_schedules(crontab, push_url=push_url, timezone=timezone, name_prefix=name_prefix)
    declared = [
        Declared(body, f"{'<stdin>' if file == '-' else file}:{entry.line}")
        for body, entry in zip(bodies, crontab.entries, strict=True)
    ]
    lines = {body["name"]: entry.line for body, entry in zip(bodies, crontab.entries, strict=True)}

    def show(plan: ApplyResult) -> None:
        _preview(plan, lines, {b["name"]: b for b in bodies})
        for item in plan.items:
            if item.action == "update":
                render_item(item)
        console.print(f"Plan: {summary(plan)}." if plan.has_changes else "No changes.")

    with connect(url, api_key) as client:
        if as_json:
            result = client.schedules.apply(declared, prune=False, dry_run=dry_run)
            print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
            return
        apply_declared(
            client,
            declared,
            prune=False,
            dry_run=dry_run,
            yes=yes,
            reads_stdin=file == "-",
            render=show,
        )
