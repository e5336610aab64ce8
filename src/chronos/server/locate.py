"""Where a database URL points, said so that an operator can check it.

    sqlite_path("sqlite:///./chronos.db")      # PosixPath('/srv/app/chronos.db'): from the cwd
    database_label("sqlite:///./chronos.db")   # '/srv/app/chronos.db'
    database_label("postgresql://u:pw@db/c")   # 'postgresql://u:***@db/c'

A relative SQLite path is relative to the current directory, which is how an admin command run
from elsewhere ended up on a new, empty database: every command that opens the database names
its absolute path, and the admin commands refuse to create one unless asked.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import make_url

MASK = "***"
_SECRET_QUERY_KEYS = re.compile(r"pass|secret|token|key", re.IGNORECASE)


class NoDatabase(Exception):
    """An admin command was pointed at a SQLite file that does not exist (and not told to
    create it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"no database at {path}; run from the directory where the server runs, "
            "pass --database-url, or --create"
        )


def mask_url(url: str) -> str:
    """``url`` with its password (and any secret-looking query parameter) replaced by ``***``:
    ``postgresql://user:***@host/db``."""
    try:
        parsed = make_url(url)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", rf"\g<1>{MASK}@", url)
    query = {
        key: (MASK if _SECRET_QUERY_KEYS.search(key) else value)
        for key, value in parsed.query.items()
    }
    rendered = parsed.set(query=query).render_as_string(hide_password=True)
    return rendered.replace("%2A%2A%2A", MASK)


def sqlite_path(url: str) -> Path | None:
    """The absolute path of a SQLite URL's file; None for another database or ``:memory:``."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def database_label(url: str) -> str:
    """The absolute file of a SQLite URL, or the URL with its secrets masked."""
    path = sqlite_path(url)
    return str(path) if path is not None else mask_url(url)


def require_existing(url: str, *, create: bool) -> None:
    """Raise :class:`NoDatabase` when ``url`` names a SQLite file that is not there and
    ``create`` is false (PostgreSQL databases are never created by Chronos)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    if not create:
        raise NoDatabase(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot create {path}: the directory {path.parent} does not exist")
