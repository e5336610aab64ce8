"""Administrative actions run from the command line against the database directly."""

from __future__ import annotations

from chronos.server.clock import SystemClock
from chronos.server.config import Settings
from chronos.server.services.accounts import AccountService
from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate


async def create_account(name: str, database_url: str | None = None) -> str:
    """Create account ``name`` with one API key; return the key."""
    if not name.strip() or len(name.strip()) > 200:
        raise ValueError("an account name must have 1 to 200 characters")
    settings = Settings.from_env(database_url=database_url)
    db = Database.from_url(settings.database_url)
    try:
        await migrate(db)
        return await AccountService(db, SystemClock()).create_account(name)
    finally:
        await db.dispose()
