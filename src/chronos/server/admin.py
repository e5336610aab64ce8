"""Administrative actions run from the command line against the database directly."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from chronos.server.clock import SystemClock
from chronos.server.config import Settings
from chronos.server.store import accounts as account_store
from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate


async def create_account(name: str, database_url: str | None = None) -> str:
    """Create account ``name`` with one API key; return the key."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("an account name must have 1 to 200 characters")
    settings = Settings.from_env(database_url=database_url)
    db = Database.from_url(settings.database_url)
    now = SystemClock().now()
    try:
        await migrate(db)
        async with db.transaction() as conn:
            account = await account_store.account_create(conn, name, now)
            _, key = await account_store.api_key_create(conn, account["id"], "default", now)
        return key
    except IntegrityError as exc:
        raise ValueError(f"an account named {name!r} already exists") from exc
    finally:
        await db.dispose()
