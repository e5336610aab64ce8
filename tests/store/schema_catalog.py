"""Read the real schema of a live database into a comparable, normalised catalog.

A catalog maps a section to ``{key: normalised definition}``:

- ``column``: ``"table.column"`` -> type, nullability and default
- ``index``: index name -> its definition, with UNIQUE and the partial-index WHERE predicate
  (indexes that only back a PRIMARY KEY or UNIQUE constraint are listed as constraints instead)
- ``constraint``: constraint name -> ``"table: <definition>"`` for CHECK, UNIQUE, PRIMARY KEY
  and FOREIGN KEY

Definitions are normalised so that cosmetic differences (whitespace, identifier quoting, keyword
case, redundant outer parentheses) do not count; string literals are kept exactly, so a changed
value list or predicate does. Catalogs are only comparable within one dialect: PostgreSQL
reports its own canonical text (``pg_get_constraintdef``, ``pg_indexes.indexdef``), SQLite the
text it was created with. ``alembic_version`` is left out.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

Catalog = dict[str, dict[str, str]]

SECTIONS = ("column", "index", "constraint")
IGNORED_TABLES = frozenset({"alembic_version"})

_TOKEN = re.compile(
    r"""
      (?P<literal>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`)
    | (?P<number>\d+(?:\.\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<op>::|<=|>=|<>|!=|\|\||[^\sA-Za-z0-9_])
    | (?P<space>\s+)
    """,
    re.VERBOSE,
)
# Words after which "(" opens a list or a sub-expression rather than a call or a type's size.
_SPACED_BEFORE_PAREN = frozenset(
    {"and", "as", "check", "constraint", "exists", "in", "key", "not", "on", "or"}
    | {"references", "unique", "using", "when", "where"}
)


def tokens(sql: str) -> list[str]:
    """SQL split into tokens: identifiers unquoted and lower-cased, literals kept as they are."""
    out: list[str] = []
    for match in _TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "quoted":
            text = text[1:-1].replace('""', '"')
            out.append(text.lower())
        elif kind == "literal":
            out.append(text)
        else:
            out.append(text.lower())
    return out


def _encloses_all(toks: list[str]) -> bool:
    if len(toks) < 2 or toks[0] != "(" or toks[-1] != ")":
        return False
    depth = 0
    for i, tok in enumerate(toks):
        depth += tok == "("
        depth -= tok == ")"
        if depth == 0 and i < len(toks) - 1:
            return False
    return True


def strip_parens(toks: list[str]) -> list[str]:
    while _encloses_all(toks):
        toks = toks[1:-1]
    return toks


def _is_word(tok: str) -> bool:
    return re.fullmatch(r"[a-z_][a-z0-9_$]*", tok) is not None


def render(toks: list[str]) -> str:
    """Tokens joined with one canonical spacing."""
    out = ""
    prev = ""
    for tok in toks:
        if not out:
            out = tok
        elif (
            prev in ("(", "[", ".", "::")
            or tok in (")", "]", ",", ".", "::", "[")
            or (tok == "(" and _is_word(prev) and prev not in _SPACED_BEFORE_PAREN)
        ):
            out += tok
        else:
            out += " " + tok
        prev = tok
    return out


def normalise(sql: str, *, drop_schema: str | None = None) -> str:
    """Whitespace, quoting, case and enclosing parentheses made canonical (literals kept)."""
    toks = tokens(sql)
    if drop_schema:
        schema = drop_schema.lower()
        kept: list[str] = []
        i = 0
        while i < len(toks):
            if toks[i] == schema and i + 1 < len(toks) and toks[i + 1] == ".":
                i += 2
                continue
            kept.append(toks[i])
            i += 1
        toks = kept
    # "IF NOT EXISTS" in a CREATE INDEX is how it was run, not what it is.
    for i in range(len(toks) - 2):
        if toks[i : i + 3] == ["if", "not", "exists"]:
            toks = toks[:i] + toks[i + 3 :]
            break
    toks = strip_parens(toks)
    if toks[:1] == ["check"]:
        toks = ["check", "(", *strip_parens(toks[1:]), ")"]
    # An index's WHERE predicate runs to the end; parentheses around all of it are cosmetic.
    depth = 0
    for i, tok in enumerate(toks):
        depth += tok == "("
        depth -= tok == ")"
        if depth == 0 and tok == "where":
            toks = toks[: i + 1] + strip_parens(toks[i + 1 :])
            break
    return render(toks)


def diff_catalogs(expected: Catalog, actual: Catalog) -> list[str]:
    """One readable line per difference, e.g. ``index ix: expected ... got ...``."""
    lines: list[str] = []
    for section in SECTIONS:
        want, have = expected.get(section, {}), actual.get(section, {})
        for key in sorted(want.keys() | have.keys()):
            if want.get(key) != have.get(key):
                lines.append(
                    f"{section} {key}: expected {want.get(key, 'nothing')} "
                    f"got {have.get(key, 'nothing')}"
                )
    return lines


async def read_catalog(conn: AsyncConnection) -> Catalog:
    return await conn.run_sync(read_catalog_sync)


def read_catalog_sync(conn: sa.Connection) -> Catalog:
    if conn.dialect.name == "postgresql":
        return _read_postgresql(conn)
    if conn.dialect.name == "sqlite":
        return _read_sqlite(conn)
    raise NotImplementedError(conn.dialect.name)


def _empty() -> Catalog:
    return {section: {} for section in SECTIONS}


def _put(section: dict[str, str], key: str, value: str, table: str) -> None:
    """Constraint names are unique per table; qualify a name that occurs on two tables."""
    if key in section:
        key = f"{table}.{key}"
    section[key] = value


# --- PostgreSQL -------------------------------------------------------------------------------

_PG_COLUMNS = sa.text(
    """
    SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,
           column_default
    FROM information_schema.columns
    WHERE table_schema = current_schema()
      AND table_name IN (
        SELECT table_name FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
      )
    """
)
_PG_INDEXES = sa.text(
    """
    SELECT i.tablename, i.indexname, i.indexdef
    FROM pg_indexes i
    WHERE i.schemaname = current_schema()
      AND NOT EXISTS (
        SELECT 1 FROM pg_constraint c
        WHERE c.contype IN ('p', 'u', 'x')
          AND c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass
      )
    """
)
_PG_CONSTRAINTS = sa.text(
    """
    SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema()
    """
)


def _read_postgresql(conn: sa.Connection) -> Catalog:
    catalog = _empty()
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    for table, column, data_type, length, nullable, default in conn.execute(_PG_COLUMNS):
        if table in IGNORED_TABLES:
            continue
        type_ = data_type + (f"({length})" if length is not None else "")
        catalog["column"][f"{table}.{column}"] = _column(type_, nullable == "YES", default)
    for table, name, indexdef in conn.execute(_PG_INDEXES):
        if table not in IGNORED_TABLES:
            catalog["index"][name] = normalise(indexdef, drop_schema=schema)
    for table, name, definition in conn.execute(_PG_CONSTRAINTS):
        if table not in IGNORED_TABLES:
            value = f"{table}: {normalise(definition, drop_schema=schema)}"
            _put(catalog["constraint"], name, value, table)
    return catalog


def _column(type_: str, nullable: bool, default: Any) -> str:
    text = normalise(type_) + ("" if nullable else " not null")
    if default is not None:
        text += f" default {normalise(str(default))}"
    return text


# --- SQLite -----------------------------------------------------------------------------------


def _split_top_level(toks: list[str]) -> list[list[str]]:
    """The comma-separated elements of a token list, ignoring commas inside parentheses."""
    parts: list[list[str]] = [[]]
    depth = 0
    for tok in toks:
        if tok == "," and depth == 0:
            parts.append([])
            continue
        depth += tok == "("
        depth -= tok == ")"
        parts[-1].append(tok)
    return [part for part in parts if part]


def _paren_group(toks: list[str], start: int) -> tuple[list[str], int]:
    """The tokens inside the parentheses opening at ``start``, and the index after them."""
    depth = 0
    for i in range(start, len(toks)):
        depth += toks[i] == "("
        depth -= toks[i] == ")"
        if depth == 0:
            return toks[start + 1 : i], i + 1
    raise ValueError(f"unbalanced parentheses in {render(toks)!r}")


def _column_list(toks: list[str]) -> tuple[str, ...]:
    return tuple(render(part) for part in _split_top_level(toks))


class _TableSql:
    """What only a table's CREATE TABLE text tells: CHECK expressions and constraint names."""

    def __init__(self, sql: str) -> None:
        toks = tokens(sql)
        body, _ = _paren_group(toks, toks.index("("))
        self.checks: list[tuple[str | None, str]] = []
        # ("u" | "pk" | "fk", columns) -> constraint name
        self.names: dict[tuple[str, tuple[str, ...]], str] = {}
        for element in _split_top_level(body):
            self._element(element)

    def _element(self, toks: list[str]) -> None:
        i = 0
        name: str | None = None
        column = None if toks[0] in ("constraint", "check", "unique", "primary", "foreign") else 0
        while i < len(toks):
            tok = toks[i]
            if tok == "constraint" and i + 1 < len(toks):
                name = toks[i + 1]
                i += 2
                continue
            if tok == "check" and i + 1 < len(toks) and toks[i + 1] == "(":
                expr, i = _paren_group(toks, i + 1)
                self.checks.append((name, render(strip_parens(expr))))
                name = None
                continue
            kind = {"unique": "u", "primary": "pk", "foreign": "fk"}.get(tok)
            if kind is not None:
                j = i + (2 if kind != "u" else 1)  # past PRIMARY KEY / FOREIGN KEY
                if j < len(toks) and toks[j] == "(":
                    columns, i = _paren_group(toks, j)
                    cols = _column_list(columns)
                elif column is not None:
                    cols, i = (toks[column],), j
                else:
                    i += 1
                    continue
                if name is not None:
                    self.names[(kind, cols)] = name
                name = None
                continue
            i += 1


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_sqlite(conn: sa.Connection) -> Catalog:
    catalog = _empty()

    def pragma(statement: str) -> list[Any]:
        return list(conn.exec_driver_sql(statement).mappings())

    objects = conn.exec_driver_sql(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'"
    ).all()
    for type_, name, table, sql in objects:
        if table in IGNORED_TABLES:
            continue
        if type_ == "index" and sql is not None:
            catalog["index"][name] = normalise(sql)
        if type_ != "table":
            continue
        quoted = _quote(table)
        parsed = _TableSql(sql)
        constraints = catalog["constraint"]

        for unnamed, (check_name, expr) in enumerate(parsed.checks):
            key = check_name or f"{table}.check#{unnamed}"
            _put(constraints, key, f"{table}: check ({expr})", table)

        columns = pragma(f"PRAGMA table_info({quoted})")
        for col in columns:
            catalog["column"][f"{table}.{col['name'].lower()}"] = _column(
                col["type"], not col["notnull"], col["dflt_value"]
            )
        pk = tuple(c["name"].lower() for c in sorted(columns, key=lambda c: c["pk"]) if c["pk"])
        if pk:
            key = parsed.names.get(("pk", pk), f"{table}.primary_key")
            _put(constraints, key, f"{table}: primary key ({', '.join(pk)})", table)

        for index in pragma(f"PRAGMA index_list({quoted})"):
            if index["origin"] != "u":
                continue
            info = pragma(f"PRAGMA index_info({_quote(index['name'])})")
            cols = tuple(r["name"].lower() for r in sorted(info, key=lambda r: r["seqno"]))
            key = parsed.names.get(("u", cols), f"{table}.unique({', '.join(cols)})")
            _put(constraints, key, f"{table}: unique ({', '.join(cols)})", table)

        foreign: dict[int, list[Any]] = {}
        for row in pragma(f"PRAGMA foreign_key_list({quoted})"):
            foreign.setdefault(row["id"], []).append(row)
        for rows in foreign.values():
            rows.sort(key=lambda r: r["seq"])
            first = rows[0]
            source = tuple(r["from"].lower() for r in rows)
            target = ", ".join((r["to"] or "").lower() for r in rows)
            definition = (
                f"foreign key ({', '.join(source)}) references {first['table'].lower()} "
                f"({target}) on update {first['on_update'].lower()} "
                f"on delete {first['on_delete'].lower()} match {first['match'].lower()}"
            )
            key = parsed.names.get(("fk", source), f"{table}.fk({', '.join(source)})")
            _put(constraints, key, f"{table}: {definition}", table)
    return catalog
