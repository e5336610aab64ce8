"""``chronos apply`` and ``chronos export``: schedules as code (docs/schedules-as-code.md).

    chronos apply -f schedules.yaml            # show the diff, ask, apply
    chronos apply -f schedules/ --prune --yes  # a folder; delete managed schedules not in it
    chronos apply -f - --dry-run --exit-code   # the diff only; exit 2 when changes are pending
    chronos export -o schedules.yaml [--tag team=backend] [--format json]

Exit codes: 0 done (or nothing to do), 1 an error (nothing is written when a file or a
schedule is invalid), 2 with ``--dry-run --exit-code`` when there are changes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from chronos.ascode.files import FileProblems, dump_document, load_sources
from chronos.ascode.plan import MISSING, ApplyError, ApplyResult, Declared, PlanItem, Problem
from chronos.cli.client import KeyOption, TagOption, UrlOption, _tags
from chronos.client import Chronos
from chronos.errors import ChronosError

console = Console()
err_console = Console(stderr=True)

SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "delete": ("-", "red"),
    "unchanged": ("=", "dim"),
}


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


@contextmanager
def connect(url: str | None, api_key: str | None) -> Iterator[Chronos]:
    """A client; a Chronos error becomes ``error <code>: <message>`` and exit 1."""
    try:
        with Chronos(api_key=api_key, base_url=url) as client:
            yield client
    except ApplyError as exc:
        print_problems(exc.problems)
        if exc.result is not None and any(item.done for item in exc.result.items):
            done = [item for item in exc.result.items if item.done]
            err_console.print(f"{len(done)} change(s) were applied before the error:")
            for item in done:
                err_console.print(f"  {item.action} {escape(item.name)}")
        raise typer.Exit(1) from exc
    except ChronosError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {escape(exc.message)}")
        raise typer.Exit(1) from exc


def print_problems(problems: list[Problem]) -> None:
    err_console.print(f"[red]error[/red]: {len(problems)} problem(s), nothing was changed:")
    for problem in problems:
        err_console.print(f"  {escape(str(problem))}", soft_wrap=True)


def _show(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if value == "" or "\n" in value else value
    return json.dumps(value, ensure_ascii=False)


def render_item(item: PlanItem) -> None:
    symbol, colour = SYMBOLS[item.action]
    where = f"  [dim]({escape(item.source)})[/dim]" if item.source else ""
    console.print(
        f"[{colour}]{symbol} {item.action} {escape(item.name)}[/{colour}]{where}", soft_wrap=True
    )
    for change in item.changes:
        if item.action == "create":
            line = f"    {escape(change.path)}: {escape(_show(change.new))}"
        else:
            line = (
                f"    {escape(change.path)}: [red]{escape(_show(change.old))}[/red] → "
                f"[green]{escape(_show(change.new))}[/green]"
            )
        console.print(line, soft_wrap=True, highlight=False)


def summary(result: ApplyResult) -> str:
    return (
        f"{len(result.created)} to create, {len(result.updated)} to update, "
        f"{len(result.deleted)} to delete, {len(result.unchanged)} unchanged"
    )


def render_plan(result: ApplyResult, *, show_unchanged: bool = False) -> None:
    for item in result.items:
        if item.action != "unchanged" or show_unchanged:
            render_item(item)
    if not result.has_changes:
        console.print(f"No changes: {len(result.unchanged)} schedule(s) match.")
    else:
        console.print(f"Plan: {summary(result)}.")


def confirm(yes: bool, reads_stdin: bool) -> None:
    """Ask before writing when a person is at the terminal (not with ``--yes``)."""
    if yes or reads_stdin or not sys.stdin.isatty():
        return
    if not typer.confirm("Apply these changes?", default=False):
        console.print("Nothing was changed.")
        raise typer.Exit(1)


def apply_declared(
    client: Chronos,
    declared: list[Declared],
    *,
    prune: bool,
    dry_run: bool,
    yes: bool,
    reads_stdin: bool,
    show_unchanged: bool = False,
    render: Callable[[ApplyResult], None] | None = None,
) -> ApplyResult:
    """Plan, show (``render``, default: the diff), ask, then apply: the CLI's one path for
    ``apply`` and ``import``."""
    plan: ApplyResult = client.schedules.apply(declared, prune=prune, dry_run=True)
    if render is not None:
        render(plan)
    else:
        render_plan(plan, show_unchanged=show_unchanged)
    if dry_run or not plan.has_changes:
        return plan
    confirm(yes, reads_stdin)
    done: ApplyResult = client.schedules.apply(declared, prune=prune, dry_run=False)
    console.print(
        f"Applied: {len(done.created)} created, {len(done.updated)} updated, "
        f"{len(done.deleted)} deleted, {len(done.unchanged)} unchanged."
    )
    return done


def apply(
    files: Annotated[
        list[str],
        typer.Option(
            "-f", "--file", help="a YAML/JSON file, a folder of them, or - for standard input"
        ),
    ],
    prune: Annotated[
        bool,
        typer.Option(help="delete schedules an earlier apply wrote that the files no longer name"),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the diff only")] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="with --dry-run: exit 2 when there are changes")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    show_unchanged: Annotated[
        bool, typer.Option("--show-unchanged", help="list unchanged schedules too")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Create, update and (--prune) delete schedules to match files, showing a diff first."""
    try:
        declared = load_sources(files)
    except FileProblems as exc:
        print_problems(exc.problems)
        raise typer.Exit(1) from exc
    with connect(url, api_key) as client:
        if as_json:
            result = client.schedules.apply(declared, prune=prune, dry_run=dry_run)
            print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        else:
            result = apply_declared(
                client,
                declared,
                prune=prune,
                dry_run=dry_run,
                yes=yes,
                reads_stdin="-" in files,
                show_unchanged=show_unchanged,
            )
    if dry_run and exit_code and result.has_changes:
        raise typer.Exit(2)


def export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write here (default: standard output)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="yaml or json")] = Format.yaml,
    tag: TagOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="the same as --format json")] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Write the current schedules in the format apply reads (configuration only)."""
    with connect(url, api_key) as client:
        schedules = client.schedules.export(tags=_tags(tag) or None)
    text = dump_document(schedules, "json" if as_json else fmt.value)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {len(schedules)} schedule(s) to {escape(str(output))}")


def register(app: typer.Typer) -> None:
    """Add ``apply``, ``export`` and ``import crontab`` to the ``chronos`` command."""
    from chronos.cli.crontab_import import import_app

    app.command("apply")(apply)
    app.command("export")(export)
    app.add_typer(import_app, name="import")
