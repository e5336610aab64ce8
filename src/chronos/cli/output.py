"""How the ``chronos`` client commands show things to people (``--json`` prints the API's
answer untouched):

- tables never cut an id: a column of ids keeps its full width, other columns wrap
  (``job_01m8cj…`` at 80 columns could not be copied);
- times are shown in the schedule's timezone (``2026-03-01 03:00:00 CET``), or in UTC with the
  global ``chronos --utc`` (or ``CHRONOS_UTC=1``); times that belong to no schedule are UTC;
- a success rate reads ``97%`` everywhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.table import Table

console = Console()

ID_PATTERN = re.compile(r"[a-z]{2,4}_[0-9a-z]{26}")
# Fields of API answers that hold an instant (RFC 3339).
TIME_KEYS = frozenset({"scheduled_for", "since", "from", "to", "at", "late_after"})


@dataclass
class Settings:
    utc: bool = False  # ``chronos --utc``: every time in UTC


settings = Settings()


def looks_like_id(value: str) -> bool:
    return bool(ID_PATTERN.fullmatch(value))


def is_time_key(key: str) -> bool:
    return key.endswith("_at") or key in TIME_KEYS


def when(value: datetime | str | None, timezone: str | None = None) -> str | None:
    """An instant for people: in ``timezone`` (the schedule's), or UTC when it has none or
    ``--utc`` was given. Text that is not a time is returned as it is."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        instant = value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    zone: Any = UTC
    if timezone and not settings.utc:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or 'UTC'}"


def percent(rate: float | None) -> str | None:
    """A success rate (0..1) as ``97%`` (``99.5%`` when rounding would hide a failure)."""
    if rate is None:
        return None
    shown = f"{rate:.0%}"
    if shown == "100%" and rate < 1:
        shown = f"{rate:.1%}"
    return shown


def table(columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table. A column whose every value is an id is never cut or wrapped; the other
    columns wrap instead of ending in an ellipsis."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    grid = Table(header_style="bold")
    for index, name in enumerate(columns):
        values = [row[index] for row in cells if index < len(row) and row[index]]
        if values and all(looks_like_id(v) for v in values):
            width = max(len(v) for v in values)
            grid.add_column(name, no_wrap=True, min_width=width, overflow="fold")
        else:
            grid.add_column(name, overflow="fold")
    for row in cells:
        grid.add_row(*row)
    console.print(grid)


def field_value(key: str, value: Any, timezone: str | None) -> Any:
    """One field of a ``show`` command's field/value table."""
    if key == "success_rate":
        return percent(value)
    if isinstance(value, str) and is_time_key(key):
        return when(value, timezone)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value
