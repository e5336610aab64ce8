"""Admin commands that open the database directly: ``chronos migrate`` and ``chronos accounts``.

Each prints the absolute database path (a masked URL for PostgreSQL) on stderr, and refuses to
create a new SQLite file unless given ``--create``: run from the wrong directory, a relative
``sqlite:///./chronos.db`` would otherwise be a new, empty database whose keys the running
server rejects.

    chronos accounts list                                # names, ids, key counts (never keys)
    chronos accounts create acme                         # a new account and its first key
    chronos accounts keys create default --scope worker  # a new key for an existing account
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from chronos.cli.output import table, when

accounts_app = typer.Typer(no_args_is_help=True, help="Manage accounts (on the database directly).")
keys_app = typer.Typer(no_args_is_help=True, help="Issue API keys for existing accounts.")
accounts_app.add_typer(keys_app, name="keys")
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CHRONOS_DATABASE_URL",
        help="sqlite:///./chronos.db (default) or postgresql://…",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="JSON for scripts")]
CreateOption = Annotated[
    bool, typer.Option("--create", help="create the SQLite database file if it does not exist")
]


def _run(database_url: str | None, action: Callable[[str], Coroutine[Any, Any, T]]) -> T:
    """Resolve the URL, say which database, run ``action`` on it; errors exit 1."""
    try:
        from chronos.server.admin import resolve_url
        from chronos.server.locate import NoDatabase, database_label
    except ImportError as exc:
        err_console.print(
            f"[red]the server is not installed ({exc.name} is missing):[/red] "
            "pip install 'chronos-scheduler[server]'"
        )
        raise typer.Exit(1) from exc
    url = resolve_url(database_url)
    err_console.print(f"database: {database_label(url)}", highlight=False, soft_wrap=True)
    try:
        return asyncio.run(action(url))
    except (NoDatabase, ValueError) as exc:
        err_console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except Exception as exc:  # unreachable server, wrong credentials, a file that is not SQLite
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        err_console.print(
            f"[red]cannot use the database at {database_label(url)}:[/red] {first}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from exc


def migrate(
    database_url: DatabaseOption = None, create: CreateOption = False, as_json: JsonFlag = False
) -> None:
    """Apply the database schema migrations."""

    async def action(url: str) -> None:
        from chronos.server.admin import open_database

        async with open_database(url, create=create):
            pass

    _run(database_url, action)
    if as_json:
        print(json.dumps({"migrated": True}))
        return
    console.print("[green]database is up to date[/green]")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="the account's unique name")],
    database_url: DatabaseOption = None,
    create: CreateOption = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an account and print its first API key (shown once)."""
    from_admin = _admin()
    key = _run(database_url, lambda url: from_admin.create_account(name, url, create=create))
    if as_json:
        print(json.dumps({"account": name, "api_key": key}, indent=2))
        return
    console.print(f"account [bold]{name}[/bold] created; its API key (shown once):")
    print(key)


@accounts_app.command("list")
def accounts_list(
    database_url: DatabaseOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The accounts: name, id, number of API keys (never the keys)."""
    from_admin = _admin()
    rows = _run(database_url, from_admin.list_accounts)
    if as_json:
        print(json.dumps([_account_out(r) for r in rows], indent=2))
        return
    accounts = [_account_out(row) for row in rows]
    table(  # ids never cut (chronos.cli.output)
        ["name", "id", "keys", "created"],
        [[a["name"], a["id"], a["key_count"], when(a["created_at"])] for a in accounts],
    )


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Argument(help="the account's name or id")],
    name: Annotated[str, typer.Option(help="a label for the key")] = "cli",
    scope: Annotated[str, typer.Option(help="admin (everything) or worker")] = "admin",
    database_url: DatabaseOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new API key for an existing account, e.g. when the bootstrap key is lost.
    The key is printed once; Chronos stores only its hash."""
    from_admin = _admin()
    found, row, key = _run(
        database_url, lambda url: from_admin.issue_key(account, url, name=name, scope=scope)
    )
    if as_json:
        out = {"id": row["id"], "name": row["name"], "scope": row["scope"]}
        print(json.dumps({**out, "account": found["name"], "api_key": key}, indent=2))
        return
    console.print(
        f"new {row['scope']} key [bold]{row['id']}[/bold] ({row['name']}) for account "
        f"[bold]{found['name']}[/bold]; shown once:"
    )
    print(key)


def _admin() -> Any:
    try:
        from chronos.server import admin
    except ImportError as exc:
        err_console.print(
            f"[red]the server is not installed ({exc.name} is missing):[/red] "
            "pip install 'chronos-scheduler[server]'"
        )
        raise typer.Exit(1) from exc
    return admin


def _account_out(row: Any) -> dict[str, Any]:
    created = row["created_at"]
    return {
        "id": row["id"],
        "name": row["name"],
        "key_count": row["key_count"],
        "created_at": (
            created.replace(microsecond=0).isoformat() if hasattr(created, "isoformat") else created
        ),
    }
