"""Apply the Alembic migrations in-process.

On PostgreSQL a session advisory lock makes nodes that start together on an empty database
migrate one after the other: the first applies the migrations, the others find nothing to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from chronos.server.store.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant that names "the Chronos migration lock".
ADVISORY_LOCK_KEY = 0x6368726F6E6F73


def alembic_config(connection: Any | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(db: Database) -> None:
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            await conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            await conn.commit()
        try:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
            await conn.commit()
        finally:
            if not db.is_sqlite:
                await conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await conn.commit()


async def pending_migrations(db: Database) -> list[str]:
    """Revisions not yet applied (empty when the schema is current)."""

    def check(sync: Any) -> list[str]:
        current = MigrationContext.configure(sync).get_current_heads()
        script = ScriptDirectory.from_config(alembic_config())
        applied: set[str] = set()
        for head in current:
            applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
        return [rev.revision for rev in script.walk_revisions() if rev.revision not in applied]

    async with db.engine.connect() as conn:
        return await conn.run_sync(check)
