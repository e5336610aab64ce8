"""Small dialect branches, kept beside the queries that need them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_for(conn: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` on either backend."""
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


def skip_locked(conn: AsyncConnection, query: sa.Select[Any]) -> sa.Select[Any]:
    """``FOR UPDATE SKIP LOCKED`` on PostgreSQL. SQLite has one writer, so it needs no lock."""
    return query.with_for_update(skip_locked=True) if is_postgres(conn) else query


def tag_filter(conn: AsyncConnection, column: Any, tags: dict[str, str]) -> Any:
    """Rows whose JSON ``tags`` contain every ``key: value`` pair."""
    if is_postgres(conn):
        return sa.type_coerce(column, postgresql.JSONB).contains(tags)
    # json_each, not a JSON path: a path cannot name every key (one holding '"', say).
    entries = sa.func.json_each(column).table_valued("key", "value").alias("tag")
    return sa.and_(
        *(
            sa.exists().select_from(entries).where(entries.c.key == key, entries.c.value == value)
            for key, value in tags.items()
        )
    )


def one_of(conn: AsyncConnection, column: Any, values: list[Any]) -> Any:
    """``column`` is one of ``values``: ``= ANY($1)`` on PostgreSQL (one statement shape for
    any number of values), ``IN (…)`` on SQLite."""
    if is_postgres(conn):
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def unnest(
    name: str, columns: dict[str, sa.types.TypeEngine[Any]], rows: list[dict[str, Any]]
) -> Any:
    """PostgreSQL: ``rows`` as a table ``name(col, …)`` built from one array parameter per
    column, ``unnest($1::t1[], $2::t2[], …)``.

    A batch update or insert joined to it is one statement of fixed shape whatever the batch
    size: one plan, one round trip, where an executemany costs a statement per row.
    """
    arrays = [
        sa.bindparam(
            f"{name}_{column}", [row[column] for row in rows], type_=postgresql.ARRAY(type_)
        )
        for column, type_ in columns.items()
    ]
    return (
        sa.func.unnest(*arrays)
        .table_valued(*(sa.column(column, type_) for column, type_ in columns.items()))
        .render_derived(name=name)
    )
