"""What the ``update`` commands (``calendars update``, ``alerts rules update``, ``monitors
update``) share: a PATCH body read from ``-f FILE`` (YAML or JSON, ``-`` for stdin), and the
fields that changed, shown as ``schedules edit`` shows them (``--json``: ``{"changes":
{"field.path": [before, after]}, KIND: the resource}``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from chronos.cli.client import _print_json
from chronos.cli.versions import _json_changes, _load, _read, changes, print_changes

PatchFileOption = Annotated[
    str | None,
    typer.Option("-f", "--file", help="a PATCH body (JSON or YAML), - for stdin"),
]


def read_patch(file: str | None) -> dict[str, Any]:
    """The ``-f`` file's mapping (empty without one)."""
    if file is None:
        return {}
    text = sys.stdin.read() if file == "-" else _read(file)
    return _load(text, "<stdin>" if file == "-" else file)


def nothing_given() -> None:
    raise typer.BadParameter("nothing to change: give an option or -f FILE")


def report(
    kind: str,
    before: dict[str, Any],
    after: dict[str, Any],
    keys: list[str],
    as_json: bool,
) -> None:
    """The changed ``keys`` between two documents of the resource (its id, version and times
    are left out), then the result."""
    found = changes(
        {k: before.get(k) for k in keys if k in before},
        {k: after.get(k) for k in keys if k in after},
    )
    if as_json:
        _print_json({"changes": _json_changes(found), kind: after})
        return
    print_changes(str(after.get("name")), found)
