"""The Alembic migrations produce exactly the schema in ``store/tables.py``."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chronos.server.store.migrate import migrate, pending_migrations
from chronos.server.store.tables import metadata


async def test_migrated_schema_matches_the_tables(db):
    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_migrating_twice_is_a_no_op(db):
    await migrate(db)
    assert await pending_migrations(db) == []
