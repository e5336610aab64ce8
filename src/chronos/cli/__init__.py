"""The ``chronos`` command. Server commands import the server lazily, so the client commands
work with only the SDK installed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from chronos.cli import output
from chronos.cli.admin import accounts_app, migrate
from chronos.cli.alerts import alerts_app
from chronos.cli.ascode import register as register_ascode
from chronos.cli.audit import audit
from chronos.cli.backfill import backfills_app
from chronos.cli.calendars import calendars_app
from chronos.cli.client import executions_app, jobs_app, schedules_app
from chronos.cli.jobs_create import jobs_create  # noqa: F401  (registers `jobs create`)
from chronos.cli.ledger import schedules_slots  # noqa: F401  (registers `schedules slots`)
from chronos.cli.monitors import monitors_app
from chronos.cli.versions import schedules_edit  # noqa: F401  (registers `schedules edit`, …)

# add_completion: ``chronos --install-completion`` / ``--show-completion`` (bash, zsh, fish,
# PowerShell).
app = typer.Typer(
    no_args_is_help=True, add_completion=True, help="Chronos: a self-hostable job scheduler."
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"chronos {version('chronos-scheduler')}")
        except PackageNotFoundError:  # running from a source tree that is not installed
            print("chronos (version unknown: the package is not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    utc: Annotated[
        bool,
        typer.Option(
            "--utc",
            envvar="CHRONOS_UTC",
            help="show times in UTC instead of each schedule's timezone (tables; --json is UTC)",
        ),
    ] = False,
) -> None:
    """Chronos: a self-hostable job scheduler."""
    output.settings.utc = utc


app.add_typer(accounts_app, name="accounts")
app.command("migrate")(migrate)
app.add_typer(schedules_app, name="schedules")
app.add_typer(jobs_app, name="jobs")
app.add_typer(executions_app, name="executions")
app.add_typer(calendars_app, name="calendars")
app.add_typer(monitors_app, name="monitors")
app.add_typer(alerts_app, name="alerts")
app.add_typer(backfills_app, name="backfills")
app.command("audit")(audit)
register_ascode(app)  # apply, export, import crontab
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
def dev(
    database_url: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="a loopback address only")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="seed 003 uses 3000, seed 004 8080")] = 8080,
) -> None:
    """Try Chronos locally: SQLite (./chronos-dev.db), loopback only, NO AUTH (as 'default')."""
    try:
        from chronos.server.dev import DEV_DATABASE_URL, NotLoopback, check_loopback, run_dev
    except ImportError as exc:
        _server_missing(exc)
    from chronos.server.config import Settings

    try:
        check_loopback(host)
        settings = Settings.from_env(
            database_url=database_url or DEV_DATABASE_URL, host=host, port=port
        )
    except (NotLoopback, ValueError) as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    run_dev(settings)


@app.command()
def worker(
    target: Annotated[str, typer.Argument(help="module:attribute of a Chronos instance")],
    concurrency: Annotated[int, typer.Option(min=1, help="jobs run at once")] = 1,
    grace_seconds: Annotated[float, typer.Option(help="time to finish jobs on SIGTERM")] = 30.0,
    log_level: Annotated[
        str,
        typer.Option(
            envvar="CHRONOS_LOG_LEVEL", help="debug|info|warning|error (debug: HTTP requests too)"
        ),
    ] = "info",
    log_format: Annotated[
        str, typer.Option(envvar="CHRONOS_LOG_FORMAT", help="text|json (one object a line)")
    ] = "text",
) -> None:
    """Run the handlers registered on a Chronos instance, e.g. ``chronos worker app:chronos``.
    Logs a line per job (handler, job id, attempt, duration, outcome) to stderr."""
    import importlib

    from chronos.logs import configure

    try:
        configure(log_level, log_format)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
        instance = getattr(module, attribute or "chronos")
    except (ImportError, AttributeError) as exc:
        err_console.print(f"[red]cannot load {target!r}:[/red] {exc}")
        raise typer.Exit(2) from exc
    instance.worker.start(concurrency=concurrency, grace_seconds=grace_seconds)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
