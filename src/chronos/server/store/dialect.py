"""Small dialect branches, kept beside the queries that need them, and the batch statements
of the hot paths (claims, results, the scheduler's round), in plain SQL on both backends:

- :func:`update_many` and :func:`insert_many`: on PostgreSQL one statement over ``unnest`` of
  one array per column; on SQLite (in-process, one writer) one prepared statement run for
  each row (``executemany``, a loop in C).
- On SQLite, plain SQL skips SQLAlchemy's types, so values go in as the columns store them
  (:func:`sqlite_params`) and come back through :func:`sqlite_row_dicts`: ``UTCDateTime`` is
  naive UTC text in SQLAlchemy's format, JSON is ``json.dumps`` text — exactly what
  SQLAlchemy itself writes and reads, so either route sees the other's rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.store.types import UTCDateTime


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


def row_dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """Every row of ``result`` as a dict. The column names are read once: ``dict(row._mapping)``
    builds a key view per row, which on a claim of 100 jobs cost more than the statement."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


# SQLite: values as the columns store them, and back -------------------------------------


def sqlite_datetime(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` stores on SQLite: naive UTC text, ``YYYY-MM-DD HH:MM:SS.ffffff``
    (SQLAlchemy's SQLite ``DATETIME`` format, fixed width, so it sorts as text)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_read_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


# json.dumps(value) without its keyword checks, and None (most outputs, errors and results
# in a batch) without the encoder at all.
_encode_json = json.JSONEncoder().encode


# Datetimes and dataclasses are not orjson's to encode: they go to ``json``, which refuses them,
# as SQLAlchemy's JSON type always did. (Subclasses of str, int, dict and list, such as str
# enums, encode as their base type either way.)
_ORJSON_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def jsonb_text(value: Any) -> str:
    """The JSON text of a ``jsonb`` parameter. PostgreSQL parses it, so its spacing is free:
    orjson (a fifth of a scheduler round's insert was ``json.dumps``), and ``json`` for what
    orjson refuses or passes through (integers beyond 64 bits, nesting beyond 255 levels, keys
    that are not strings, datetimes, dataclasses). One difference is left: orjson writes NaN and
    infinities as ``null`` where ``json`` writes ``NaN`` (which PostgreSQL refuses); the API
    refuses them on the way in (``api/guard.py``), so none reaches here from a request."""
    try:
        return orjson.dumps(value, option=_ORJSON_PASSTHROUGH).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


def _sqlite_json(value: Any) -> str:
    return "null" if value is None else _encode_json(value)


def _sqlite_read_json(value: Any) -> Any:
    # Text is JSON; a bare number can be there too (as SQLAlchemy's SQLite JSON type allows).
    return json.loads(value) if isinstance(value, str) else value


def _sqlite_read_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


Converter = Callable[[Any], Any]


def _sqlite_writer(column: sa.Column[Any]) -> Converter | None:
    """How a value of ``column`` is stored on SQLite (None: as it is)."""
    if isinstance(column.type, UTCDateTime):
        return sqlite_datetime
    if isinstance(column.type, sa.JSON):
        return _sqlite_json  # SQLAlchemy's JSON writes None as 'null', and so does this
    return None


def _sqlite_reader(column: sa.Column[Any]) -> Converter | None:
    """How a stored value of ``column`` reads back (None: as it is)."""
    if isinstance(column.type, UTCDateTime):
        return _sqlite_read_datetime
    if isinstance(column.type, sa.JSON):
        return _sqlite_read_json
    if isinstance(column.type, sa.Boolean):
        return _sqlite_read_bool
    return None


def _converted(values: list[Any], convert: Converter | None, *, reading: bool) -> list[Any]:
    """``values`` (one column's) converted; None stays None. A timestamp column holds few
    distinct values in a batch (``now``, mostly), so each is converted once."""
    if convert is None:
        return values
    if convert is sqlite_datetime or convert is _sqlite_read_datetime:
        distinct = {value: convert(value) for value in set(values)}
        return [distinct[value] for value in values]
    if reading:
        return [None if value is None else convert(value) for value in values]
    return [convert(value) for value in values]


def sqlite_params(
    table: sa.Table, rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """SQLite: each row's ``columns`` (named as ``table``'s), in order, as the columns store
    them: the parameters of an ``executemany``."""
    converted = [
        _converted([row[name] for row in rows], _sqlite_writer(table.c[name]), reading=False)
        for name in columns
    ]
    return list(zip(*converted, strict=True))


def sqlite_readers(columns: Sequence[sa.Column[Any]]) -> dict[str, Converter]:
    """For :func:`sqlite_row_dicts`: how each of ``columns`` whose stored values need it is
    read back, by column name. Built once per query shape (at import)."""
    readers = {column.name: _sqlite_reader(column) for column in columns}
    return {name: read for name, read in readers.items() if read is not None}


def sqlite_row_dicts(
    result: sa.CursorResult[Any], readers: dict[str, Converter]
) -> list[dict[str, Any]]:
    """SQLite: every row of a plain-SQL ``result`` as a dict, each value read back as
    SQLAlchemy would read it (``readers``, from :func:`sqlite_readers`; a column not named
    there is left as it is). Column by column: a timestamp is parsed once per distinct value."""
    keys = tuple(result.keys())
    rows = result.all()
    if not rows:
        return []
    by_column = [
        _converted(list(values), readers.get(key), reading=True)
        for key, values in zip(keys, zip(*rows, strict=True), strict=True)
    ]
    return [dict(zip(keys, values, strict=True)) for values in zip(*by_column, strict=True)]


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
            values = [jsonb_text(value) for value in values]
        arrays.append(values)
    return tuple(arrays)


def _unnest(table: sa.Table, columns: tuple[str, ...]) -> str:
    arrays = ", ".join(
        f"${n}::{_pg_type(table.c[name])}[]" for n, name in enumerate(columns, start=1)
    )
    return f"unnest({arrays}) AS v({', '.join(columns)})"


@functools.cache
def _sqlite_update_sql(
    table: sa.Table, columns: tuple[str, ...], guard: str, sets: tuple[tuple[str, str], ...]
) -> str:
    assignments = [f"{name} = ?" for name in columns]
    assignments += [f"{name} = {expression}" for name, expression in sets]
    return f"UPDATE {table.name} AS t SET {', '.join(assignments)} WHERE t.id = ? AND {guard}"


@functools.cache
def _sqlite_insert_sql(table: sa.Table, columns: tuple[str, ...], suffix: str) -> str:
    placeholders = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders}) {suffix}"


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
    (the first returned column of each row comes back).

    SQLite: ``INSERT INTO table (…) VALUES (?, …) suffix`` run for each row; ``suffix`` may
    hold ``ON CONFLICT …`` but not ``RETURNING`` (``executemany`` returns no rows)."""
    columns = tuple(rows[0])
    if not is_postgres(conn):
        if "RETURNING" in suffix.upper():
            raise ValueError("insert_many cannot return rows on SQLite")
        await conn.exec_driver_sql(
            _sqlite_insert_sql(table, columns, suffix), sqlite_params(table, rows, columns)
        )
        return []
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
    SQLite: ``UPDATE table AS t SET col = ?, … WHERE t.id = ? AND guard``, run for each row.

    ``rows`` carry ``id`` and each of ``columns`` (named as the table's columns); ``sets``
    gives a column another SQL expression than ``v.<column>`` (on PostgreSQL it may use
    ``v.*`` and ``t.*``; on SQLite ``t.*`` only, so keep to constants and ``t.*``), or sets
    one more column. ``guard`` may use ``t.*``. Plain SQL (``exec_driver_sql``): on the hot
    paths, building and compiling the statement and processing every parameter by its type
    cost more than running it; SQLAlchemy still wraps errors and drops dead connections.
    """
    if not rows:
        return
    if not is_postgres(conn):
        sent = tuple(name for name in columns if name not in dict(sets))
        await conn.exec_driver_sql(
            _sqlite_update_sql(table, sent, guard, sets), sqlite_params(table, rows, (*sent, "id"))
        )
        return
    sql = _update_sql(table, columns, guard, sets)
    await conn.exec_driver_sql(sql, _arrays(table, rows, ("id", *columns)))
