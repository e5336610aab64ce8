"""Administrative actions run from the command line against the database directly.

Each opens the database through :func:`open_database`, which refuses to create a new SQLite
file unless asked (``create=True``, the commands' ``--create``): an admin command run from the
wrong directory must not silently make an empty ``chronos.db`` and print a key the running
server does not know. The commands print :func:`chronos.server.locate.database_label` so the
operator sees which database they acted on.

    async with open_database(url, create=False) as db:
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chronos.server.clock import SystemClock
from chronos.server.config import Settings
from chronos.server.domain.rows import AccountSummaryRow, ApiKeyRow
from chronos.server.domain.states import KeyScope
from chronos.server.locate import require_existing
from chronos.server.services.accounts import AccountService
from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate


def resolve_url(database_url: str | None) -> str:
    """``--database-url``, else ``CHRONOS_DATABASE_URL``, else ``sqlite:///./chronos.db``."""
    return Settings.from_env(database_url=database_url).database_url


@asynccontextmanager
async def open_database(database_url: str, *, create: bool = False) -> AsyncIterator[Database]:
    """The database at ``database_url``, migrated; raises
    :class:`chronos.server.locate.NoDatabase` for a missing SQLite file unless ``create``."""
    require_existing(database_url, create=create)
    db = Database.from_url(database_url)
    try:
        await migrate(db)
        yield db
    finally:
        await db.dispose()


async def create_account(name: str, database_url: str, *, create: bool = False) -> str:
    """Create account ``name`` with one API key; return the key."""
    if not name.strip() or len(name.strip()) > 200:
        raise ValueError("an account name must have 1 to 200 characters")
    async with open_database(database_url, create=create) as db:
        return await AccountService(db, SystemClock()).create_account(name)


async def list_accounts(database_url: str) -> list[AccountSummaryRow]:
    async with open_database(database_url) as db:
        return await AccountService(db, SystemClock()).list_accounts()


async def issue_key(
    account: str, database_url: str, *, name: str = "cli", scope: str = "admin"
) -> tuple[AccountSummaryRow, ApiKeyRow, str]:
    """A new API key for an existing account (by name or id), e.g. when the bootstrap key is
    lost: the account, the key's row and its plaintext (shown once, stored hashed)."""
    try:
        key_scope = KeyScope(scope)
    except ValueError as exc:
        raise ValueError(f"--scope must be admin or worker, not {scope!r}") from exc
    async with open_database(database_url) as db:
        service = AccountService(db, SystemClock())
        found = [a for a in await service.list_accounts() if account in (a["name"], a["id"])]
        if not found:
            raise ValueError(f"no account named {account!r} (see: chronos accounts list)")
        row, plaintext = await service.create_key(found[0]["id"], name, key_scope)
        return found[0], row, plaintext
