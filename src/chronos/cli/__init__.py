"""The ``chronos`` command. Server commands import the server lazily, so the client commands
work with only the SDK installed."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console

from chronos.cli.alerts import alerts_app
from chronos.cli.audit import audit
from chronos.cli.backfill import backfills_app
from chronos.cli.calendars import calendars_app
from chronos.cli.client import executions_app, jobs_app, schedules_app
from chronos.cli.monitors import monitors_app

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Chronos: a self-hostable job scheduler."
)
accounts_app = typer.Typer(no_args_is_help=True, help="Manage accounts.")
app.add_typer(accounts_app, name="accounts")
app.add_typer(schedules_app, name="schedules")
app.add_typer(jobs_app, name="jobs")
app.add_typer(executions_app, name="executions")
app.add_typer(calendars_app, name="calendars")
app.add_typer(monitors_app, name="monitors")
app.add_typer(alerts_app, name="alerts")
app.add_typer(backfills_app, name="backfills")
app.command("audit")(audit)
console = Console()
err_console = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CHRONOS_DATABASE_URL",
        help="sqlite:///./chronos.db (default) or postgresql://…",
    ),
]


def _server_missing(exc: ImportError) -> None:
    err_console.print(
        f"[red]the server is not installed ({exc.name} is missing):[/red] "
        "pip install 'chronos-scheduler[server]'"
    )
    raise typer.Exit(1)


@app.command()
def serve(
    database_url: DatabaseOption = None,
    host: Annotated[str, typer.Option(envvar="CHRONOS_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="CHRONOS_PORT")] = 8080,
    roles: Annotated[
        str, typer.Option(envvar="CHRONOS_ROLES", help="comma-separated: api,scheduler,dispatcher")
    ] = "api,scheduler,dispatcher",
) -> None:
    """Run a Chronos node: migrate the database if needed, then serve."""
    try:
        from chronos.server.serve import run_server
    except ImportError as exc:
        _server_missing(exc)
    from chronos.server.config import Settings, parse_roles

    try:
        settings = Settings.from_env(
            database_url=database_url, host=host, port=port, roles=parse_roles(roles)
        )
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    run_server(settings)


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Apply the database schema migrations."""
    try:
        from chronos.server.config import Settings
        from chronos.server.store.db import Database
        from chronos.server.store.migrate import migrate as run_migrations
    except ImportError as exc:
        _server_missing(exc)
    settings = Settings.from_env(database_url=database_url)

    async def main() -> None:
        db = Database.from_url(settings.database_url)
        try:
            await run_migrations(db)
        finally:
            await db.dispose()

    asyncio.run(main())
    console.print("[green]database is up to date[/green]")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="the account's unique name")],
    database_url: DatabaseOption = None,
) -> None:
    """Create an account and print its first API key (shown once)."""
    try:
        from chronos.server.admin import create_account
    except ImportError as exc:
        _server_missing(exc)
    try:
        key = asyncio.run(create_account(name, database_url))
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"account [bold]{name}[/bold] created; its API key (shown once):")
    print(key)


@app.command()
def worker(
    target: Annotated[str, typer.Argument(help="module:attribute of a Chronos instance")],
    concurrency: Annotated[int, typer.Option(min=1, help="jobs run at once")] = 1,
    grace_seconds: Annotated[float, typer.Option(help="time to finish jobs on SIGTERM")] = 30.0,
) -> None:
    """Run the handlers registered on a Chronos instance, e.g. ``chronos worker app:chronos``."""
    import importlib
    import logging

    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
        instance = getattr(module, attribute or "chronos")
    except (ImportError, AttributeError) as exc:
        err_console.print(f"[red]cannot load {target!r}:[/red] {exc}")
        raise typer.Exit(2) from exc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    console.print(
        f"worker for {', '.join(sorted(instance.worker.handlers))} "
        f"on {instance.base_url} (concurrency {concurrency})"
    )
    instance.worker.start(concurrency=concurrency, grace_seconds=grace_seconds)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
