"""Small dialect branches, kept beside the queries that need them, and PostgreSQL's batch
statements: :func:`update_many` and :func:`insert_many` send a whole batch as one statement of
plain SQL over ``unnest`` of one array per column (the hot paths: claims, results, the
scheduler's round). SQLite (in-process, one writer) runs the same changes as executemany."""

from __future__ import annotations

import functools
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_for(conn: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` on either backend."""
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


def seconds_between(conn: AsyncConnection, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as SQL (both UTCDateTime columns)."""
    if is_postgres(conn):
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


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


# PostgreSQL array element types for the column types batch updates carry.
_PG_TYPES: dict[type, str] = {
    sa.String: "text",
    sa.Text: "text",
    sa.Integer: "int8",
    sa.Float: "float8",
    sa.Boolean: "bool",
    sa.DateTime: "timestamptz",
    sa.JSON: "jsonb",
}


def _pg_type(column: sa.Column[Any]) -> str:
    impl = column.type
    if isinstance(impl, sa.types.TypeDecorator):
        impl = impl.impl_instance
    for kind, name in _PG_TYPES.items():
        if isinstance(impl, kind):
            return name
    raise TypeError(f"no array type for {column.table.name}.{column.name} ({impl!r})")


@functools.cache
def _update_sql(
    table: sa.Table, columns: tuple[str, ...], guard: str, sets: tuple[tuple[str, str], ...]
) -> str:
    expressions = dict(sets)
    assignments = [f"{name} = {expressions.pop(name, f'v.{name}')}" for name in columns]
    assignments += [f"{name} = {expression}" for name, expression in expressions.items()]
    return (
        f"UPDATE {table.name} AS t SET {', '.join(assignments)} "
        f"FROM {_unnest(table, ('id', *columns))} WHERE t.id = v.id AND {guard}"
    )


def _arrays(
    table: sa.Table, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> tuple[Any, ...]:
    """One array parameter per column; JSON values serialised as SQLAlchemy's JSON type does."""
    arrays = []
    for name in columns:
        values = [row[name] for row in rows]
        if _pg_type(table.c[name]) == "jsonb":
            values = [json.dumps(value) for value in values]
        arrays.append(values)
    return tuple(arrays)


def _unnest(table: sa.Table, columns: tuple[str, ...]) -> str:
    arrays = ", ".join(
        f"${n}::{_pg_type(table.c[name])}[]" for n, name in enumerate(columns, start=1)
    )
    return f"unnest({arrays}) AS v({', '.join(columns)})"


@functools.cache
def _insert_sql(table: sa.Table, columns: tuple[str, ...], suffix: str) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT {', '.join(columns)} FROM {_unnest(table, columns)} {suffix}"
    )


async def insert_many(
    conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]], *, suffix: str = ""
) -> list[Any]:
    """PostgreSQL: ``INSERT INTO table (…) SELECT … FROM unnest($1::t1[], …) suffix`` — one
    statement for the whole batch. ``suffix`` may hold ``ON CONFLICT …`` and ``RETURNING``
    (the first returned column of each row comes back)."""
    columns = tuple(rows[0])
    result = await conn.exec_driver_sql(
        _insert_sql(table, columns, suffix), _arrays(table, rows, columns)
    )
    return list(result.scalars()) if result.returns_rows else []


async def update_many(
    conn: AsyncConnection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    *,
    guard: str = "TRUE",
    sets: tuple[tuple[str, str], ...] = (),
) -> None:
    """PostgreSQL: ``UPDATE table AS t SET col = v.col, … FROM unnest($1::t1[], …) AS v(id,
    …) WHERE t.id = v.id AND guard`` — one statement, of one shape whatever the batch size.

    ``rows`` carry ``id`` and each of ``columns`` (named as the table's columns); ``sets``
    gives a column another SQL expression than ``v.<column>`` (it may use ``v.*`` and ``t.*``).
    Plain SQL (``exec_driver_sql``): on the hot paths, building and compiling the statement
    cost more than running it; SQLAlchemy still wraps errors and drops dead connections.
    """
    sql = _update_sql(table, columns, guard, sets)
    await conn.exec_driver_sql(sql, _arrays(table, rows, ("id", *columns)))
