"""The Alembic migrations produce exactly the schema in ``store/tables.py``.

Alembic's ``compare_metadata`` is blind to CHECK constraints and to partial-index predicates, so
the migrated database (the ``db`` fixture) is also compared, catalog against catalog, with a
database built straight from the models by ``metadata.create_all`` on the same server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chronos.server.store.db import Database
from chronos.server.store.migrate import migrate, pending_migrations
from chronos.server.store.tables import metadata
from tests.conftest import _admin_url, _pg_admin
from tests.store.schema_catalog import Catalog, diff_catalogs, normalise, read_catalog

BuildSchema = Callable[[sa.MetaData], Awaitable[Catalog]]


@pytest.fixture
async def build_schema(db: Database, tmp_path: Path) -> AsyncIterator[BuildSchema]:
    """Creates a fresh database on ``db``'s backend from some metadata and reads its catalog."""
    dropped: list[str] = []

    async def build(meta: sa.MetaData) -> Catalog:
        if db.is_sqlite:
            url = f"sqlite:///{tmp_path / f'models_{uuid.uuid4().hex[:8]}.db'}"
        else:
            name = f"chronos_schema_{uuid.uuid4().hex[:12]}"
            await _pg_admin(f'CREATE DATABASE "{name}"')
            dropped.append(name)
            url = _admin_url(name)
        fresh = Database.from_url(url)
        try:
            async with fresh.engine.begin() as conn:
                await conn.run_sync(meta.create_all)
            async with fresh.engine.connect() as conn:
                return await read_catalog(conn)
        finally:
            await fresh.dispose()

    yield build
    for name in dropped:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def migrated_catalog(db: Database) -> Catalog:
    async with db.engine.connect() as conn:
        return await read_catalog(conn)


async def test_migrated_schema_matches_the_tables(db: Database, build_schema: BuildSchema):
    expected = await build_schema(metadata)
    # The catalog really sees what compare_metadata cannot.
    assert "ix_jobs_claimable" in expected["index"]
    assert "ck_jobs_status" in expected["constraint"]
    assert "uq_jobs_schedule_slot" in expected["index"]

    differences = diff_catalogs(expected, await migrated_catalog(db))
    assert differences == [], "migrations differ from tables.py:\n" + "\n".join(differences)


async def test_migrated_column_types_match_the_tables(db: Database):
    def diff(sync_conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


def drifted_metadata() -> sa.MetaData:
    """The models, except ``ck_jobs_status`` allows one status fewer and ``ix_jobs_claimable``
    covers queued jobs instead of ready ones."""
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    jobs = drifted.tables["jobs"]

    (check,) = (c for c in jobs.constraints if c.name == "ck_jobs_status")
    assert isinstance(check, sa.CheckConstraint)
    text = str(check.sqltext.compile(compile_kwargs={"literal_binds": True}))
    statuses = re.findall(r"'[^']*'", text)
    assert len(statuses) > 2, text
    jobs.constraints.remove(check)
    jobs.append_constraint(
        sa.CheckConstraint(f"status IN ({', '.join(statuses[:-1])})", name=check.name)
    )

    (claimable,) = (i for i in jobs.indexes if i.name == "ix_jobs_claimable")
    jobs.indexes.remove(claimable)
    where = sa.text("status = 'queued'")
    sa.Index(
        "ix_jobs_claimable",
        *[jobs.c[c.name] for c in claimable.columns],
        postgresql_where=where,
        sqlite_where=where,
    )
    return drifted


async def test_drift_in_checks_and_partial_indexes_is_caught(
    db: Database, build_schema: BuildSchema
):
    differences = diff_catalogs(await build_schema(drifted_metadata()), await migrated_catalog(db))
    assert differences, "a drifted schema compared equal"
    named = {line.split(":", 1)[0] for line in differences}
    assert named == {"constraint ck_jobs_status", "index ix_jobs_claimable"}, differences


def test_normalisation_ignores_cosmetics_but_not_values():
    assert normalise(
        'CREATE INDEX "ix" ON "Jobs"("a","b") where ((status=\'ready\'))'
    ) == normalise("create index ix on jobs (a, b) WHERE status = 'ready'")
    assert normalise("status IN ('a','b')") == normalise("(status in ('a', 'b'))")
    assert normalise("status IN ('a', 'b')") != normalise("status IN ('a')")
    assert normalise("status = 'Ready'") != normalise("status = 'ready'")
    assert normalise("CREATE UNIQUE INDEX i ON t (a)") != normalise("CREATE INDEX i ON t (a)")


async def test_migrating_twice_is_a_no_op(db: Database):
    await migrate(db)
    assert await pending_migrations(db) == []
